"""The conversation component shared by every tab: ChatView, its input, answer cards and card builders."""

from desktop.chat import cards
from desktop.chat.history import HistoryEntry, HistoryStore
from desktop.chat.input import ChatInput
from desktop.chat.view import AnswerCard, ChatView, UserMessage

__all__ = ["AnswerCard", "ChatInput", "ChatView", "HistoryEntry", "HistoryStore", "UserMessage", "cards"]
