"""Maps of whole spaces (embedengine.maps): saved and reopened, updated for added and removed items,
Projector files written and read back, hover and lasso helpers, the `embedstudio map` command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embedengine import maps
from embedengine.word2vec import library
from embedengine.word2vec.vectors import WordVectors


@pytest.fixture
def saved_model(trained_word_model):
    """The small trained model saved in the test's home as "small"."""
    library.save_model(trained_word_model, "small")
    return trained_word_model


def _subset(vectors: WordVectors, rows) -> WordVectors:
    rows = list(rows)
    return WordVectors([vectors.words[i] for i in rows], vectors.vectors[rows], vectors.counts[rows])


def test_a_map_is_saved_and_reopened_identically(saved_model):
    space = maps.word_space("small")
    made = maps.make_map(space, "pca")
    assert made.laid_out and made.points == len(saved_model)
    first = maps.SpaceMap.load(made.file)
    again = maps.make_map(maps.word_space("small"), "pca")
    assert again.reused and not again.laid_out and again.file == made.file
    second = maps.SpaceMap.load(again.file)
    assert np.array_equal(first.coords, second.coords) and np.array_equal(first.ids, second.ids)
    assert first.labels == list(saved_model.words) and first.method == "pca"
    assert "frequency" in first.groups and "cluster" in first.groups
    codes, names = first.groups["cluster"]
    assert len(codes) == len(saved_model) and len(names) >= 2
    # PCA coordinates are the projection on the two main axes: the first axis carries the most variance
    assert first.coords[:, 0].var() >= first.coords[:, 1].var() > 0


def test_a_retrained_model_is_laid_out_again(saved_model):
    made = maps.make_map(maps.word_space("small"), "pca")
    changed = WordVectors(saved_model.words, saved_model.vectors[:, ::-1].copy(), saved_model.counts)
    library.save_model(changed, "small")
    again = maps.make_map(maps.word_space("small"), "pca")
    assert again.laid_out and not again.reused and again.file == made.file


def test_new_items_are_placed_without_recomputing_and_removed_ones_disappear(saved_model):
    n = len(saved_model)
    before = _subset(saved_model, range(0, n - 40))  # the map is made without the last 40 words
    made = maps.make_map(maps.word_space("unsaved", before), "pca")
    saved = maps.SpaceMap.load(made.file)
    after = _subset(saved_model, range(10, n))  # 10 words removed, 40 added
    update = maps.make_map(maps.word_space("unsaved", after), "pca")
    assert not update.laid_out and update.placed == 40 and update.removed == 10
    updated = maps.SpaceMap.load(update.file)
    assert list(updated.ids) == after.words
    kept = saved.rows_of(after.words[:-40])
    assert np.array_equal(updated.coords[:-40], saved.coords[kept])  # mapped items did not move
    pca = maps.Pca(saved.pca_mean, saved.pca_components, np.zeros(2))
    expected = pca.project(maps._unit(after.vectors[-40:]))
    assert np.allclose(updated.coords[-40:], expected, atol=1e-5)  # PCA maps project new items exactly
    assert not set(saved_model.words[:10]) & set(updated.labels)


def test_a_neighbour_map_places_new_items_among_their_neighbours(saved_model):
    """A non-linear map (here one read from Projector files) is updated by the k-NN placement."""
    n = len(saved_model)
    space = maps.word_space("unsaved", _subset(saved_model, range(n - 30)))
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(len(space), 2)).astype(np.float32)
    _, _, thumbs, groups = maps._display(space)
    maps.SpaceMap("words", space.name, "word2vec", "imported", {}, space.ids, coords, space.labels, space.details,
                  thumbs, groups, np.zeros(space.vectors.shape[1], np.float32),
                  np.zeros((2, space.vectors.shape[1]), np.float32), space.signature).save(space.map_path("imported"))
    grown = maps.word_space("unsaved", saved_model)
    update = maps.make_map(grown, "auto")
    assert update.method == "imported" and update.placed == 30 and not update.laid_out
    updated = maps.SpaceMap.load(update.file)
    assert np.array_equal(updated.coords[:-30], coords)
    new_vectors = grown.vectors[-30:]
    indices, scores = maps.nearest_neighbours(new_vectors, space.vectors, maps.PLACE_K)
    for row, (near, sims) in enumerate(zip(indices, scores)):
        placed = updated.coords[n - 30 + row]
        box_low, box_high = coords[near].min(axis=0), coords[near].max(axis=0)
        assert np.all(placed >= box_low - 1e-5) and np.all(placed <= box_high + 1e-5)  # inside its neighbours
        assert np.linalg.norm(placed - coords[near[0]]) <= np.linalg.norm(placed - coords).mean()


def test_a_word_map_is_replaced_when_most_of_it_is_new(saved_model):
    made = maps.make_map(maps.word_space("unsaved", _subset(saved_model, range(50))), "pca")
    grown = maps.make_map(maps.word_space("unsaved", saved_model), "pca")
    assert grown.laid_out and grown.points == len(saved_model) and made.file == grown.file


def test_grid_index_finds_the_point_under_the_cursor():
    rng = np.random.default_rng(1)
    coords = rng.normal(size=(20_000, 2))
    grid = maps.GridIndex(coords)
    for x, y in rng.normal(size=(50, 2)):
        radius = 0.05
        found = grid.nearest(x, y, radius)
        distances = np.hypot(coords[:, 0] - x, coords[:, 1] - y)
        if distances.min() <= radius:
            assert found == int(np.argmin(distances))
        else:
            assert found == -1


def test_points_in_polygon_is_the_lasso():
    coords = np.array([[0.2, 0.2], [2, 2], [0.1, 0.7], [0.9, 0.05], [-1, 0.5], [0.6, 0.6]])
    triangle = np.array([[0, 0], [1, 0], [0, 1]])
    assert sorted(maps.points_in_polygon(coords, triangle).tolist()) == [0, 2, 3]  # (0.6, 0.6) is past the diagonal
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]])
    assert sorted(maps.points_in_polygon(coords, square).tolist()) == [0, 2, 3, 5]


def test_projector_files_round_trip(saved_model, tmp_path):
    space = maps.word_space("small")
    made = maps.SpaceMap.load(maps.make_map(space, "pca").file)
    export = maps.export_projector(space, made, tmp_path / "projector")
    assert {"vectors.tsv", "metadata.tsv", "projector_config.json"} <= set(export.files)
    config = json.loads((tmp_path / "projector" / "projector_config.json").read_text())
    assert config["embeddings"][0]["tensorShape"] == [len(space), space.vectors.shape[1]]
    data = maps.import_projector(tmp_path / "projector")
    assert np.allclose(data.vectors, space.vectors, atol=1e-6)
    assert data.column("label") == space.labels
    assert data.column("frequency") == space.groups["frequency"]
    assert np.allclose(data.coords, made.coords, rtol=1e-5, atol=1e-5)
    imported = maps.import_projector_as_word_model(tmp_path / "projector", "back")
    assert imported.points == len(space) and imported.map_file
    model = library.load_model("back")
    assert model.words == space.labels
    assert np.allclose(model.vectors, space.vectors, atol=1e-6)
    reopened = maps.make_map(maps.word_space("back"), "auto")  # the imported coordinates are its map
    assert reopened.method == "imported" and reopened.reused
    assert np.allclose(maps.SpaceMap.load(reopened.file).coords, made.coords, atol=1e-5)


def test_projector_one_column_metadata_has_no_header(tmp_path):
    (tmp_path / "vectors.tsv").write_text("1\t0\n0\t1\n0.6\t0.8\n")
    (tmp_path / "metadata.tsv").write_text("sun\nmoon\nstar\n")
    data = maps.import_projector(tmp_path)
    assert data.column("label") == ["sun", "moon", "star"] and data.coords is None
    assert data.vectors.shape == (3, 2)


def test_cli_map_exports_and_imports(saved_model, tmp_path, capsys):
    from embedengine.cli import main

    out = tmp_path / "out"
    assert main(["map", "small", "--method", "pca", "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["map"]["points"] == len(saved_model) and result["map"]["method"] == "pca"
    assert (out / "vectors.tsv").exists() and (out / "metadata.tsv").exists()
    assert main(["map", "import", str(out), "--name", "again", "--json"]) == 0
    imported = json.loads(capsys.readouterr().out)
    assert imported["name"] == "again" and imported["points"] == len(saved_model)
    assert library.load_model("again").words == list(saved_model.words)


@pytest.mark.skipif("tsne" not in maps.available_methods(), reason="the maps extra (openTSNE) is not installed")
def test_tsne_map_keeps_neighbourhoods_better_than_pca(saved_model):
    space = maps.word_space("unsaved", _subset(saved_model, range(1500)))
    quality = {}
    for method in ("pca", "tsne"):
        layout = maps.SpaceMap.load(maps.make_map(space, method).file)
        quality[method] = maps.neighbour_agreement(space.vectors, layout.coords, k=10, wide=50)
    assert quality["tsne"] > quality["pca"]
