import numpy as np
import pytest
from PIL import Image

from datasets_scripts.dead_leaves import dead_leaves_image, dead_leaves_photos, main

LUMA = np.array([0.299, 0.587, 0.114])  # Rec. 601, as the NSS front's exposure units


def test_an_image_is_a_pure_function_of_its_seed():
    a = dead_leaves_image(96, seed=[0, 3])
    assert a.shape == (96, 96, 3) and a.dtype == np.uint8
    assert np.array_equal(a, dead_leaves_image(96, seed=[0, 3]))
    assert not np.array_equal(a, dead_leaves_image(96, seed=[0, 4]))
    assert not np.array_equal(a, dead_leaves_image(96, seed=[1, 3]))


@pytest.mark.parametrize("size", [32, 97, 200])
def test_images_hold_occluding_regions_of_several_colours_at_any_size(size):
    image = dead_leaves_image(size, seed=size).astype(np.int16)
    colours = np.unique(image.reshape(-1, 3), axis=0)
    assert len(colours) > 10  # many leaves (and their shading)
    # Mostly flat or smooth inside regions, sharp at edges: most neighbouring pixels differ little, a few a lot.
    step = np.abs(np.diff(image, axis=1)).max(axis=2)
    assert np.median(step) <= 2
    assert (step > 30).mean() > 0.001


@pytest.mark.parametrize("size", [64, 150])
def test_texture_adds_fine_detail_inside_the_same_discs(size):
    flat = dead_leaves_image(size, seed=[0, 5]).astype(np.float64)
    textured = dead_leaves_image(size, seed=[0, 5], texture=0.3).astype(np.float64)
    assert np.array_equal(dead_leaves_image(size, seed=[0, 5], texture=0.0), flat.astype(np.uint8))
    assert np.array_equal(dead_leaves_image(size, seed=[0, 5], texture=0.3), textured.astype(np.uint8))  # seeded
    # The same discs: the two images agree at a coarse scale (block means), while the fine detail (neighbour
    # differences) grows several times.
    blocks = size // 16 * 16

    def coarse(x):
        return x[:blocks, :blocks].reshape(blocks // 16, 16, blocks // 16, 16, 3).mean(axis=(1, 3))

    assert np.corrcoef(coarse(flat).ravel(), coarse(textured).ravel())[0, 1] > 0.9
    detail = [np.median(np.abs(np.diff(x, axis=1))) for x in (flat, textured)]
    assert detail[1] >= detail[0] + 1
    photos = dead_leaves_photos(2, seed=0, size=size, texture=0.3)
    assert np.array_equal(photos[1]["image"], dead_leaves_image(size, seed=[0, 1], texture=0.3))
    assert "texture 0.3" in photos[1]["source"]


@pytest.mark.parametrize("size", [48, 129, 256])
def test_sky_images_have_a_bright_nearly_flat_top_third_above_the_discs(size):
    for index in range(6):
        sky = dead_leaves_image(size, seed=[0, index], sky=True)
        assert sky.shape == (size, size, 3) and sky.dtype == np.uint8
        assert np.array_equal(sky, dead_leaves_image(size, seed=[0, index], sky=True))
        assert not np.array_equal(sky, dead_leaves_image(size, seed=[0, index]))  # its own stream
        luminance = (sky.astype(np.float64) / 255.0) @ LUMA
        top = luminance[: size // 4]
        # no disc is centred in the top third, so only large discs reach into its top quarter
        assert np.median(top) > 0.8 and (top > 0.75).mean() > 0.6, (index, np.median(top))
        assert luminance[size // 3 :].min() < 0.6  # discs below: a scene, not a blank sky
    # the set spans both: with sky a large share of the pixels is brighter than 0.92 in some images, never without
    bright = [((dead_leaves_image(96, seed=[0, i], sky=True) / 255.0) @ LUMA > 0.92).mean() for i in range(8)]
    plain = [((dead_leaves_image(96, seed=[0, i]) / 255.0) @ LUMA > 0.92).mean() for i in range(8)]
    assert max(bright) > 0.3 and max(plain) < 0.1


def test_edges_are_anti_aliased_by_the_supersampling():
    # Rendered at 3x and box-reduced, an edge passes through intermediate values; without it only leaf colours.
    smooth = dead_leaves_image(128, seed=1, supersample=3)
    hard = dead_leaves_image(128, seed=1, supersample=1)
    assert len(np.unique(smooth.reshape(-1, 3), axis=0)) > len(np.unique(hard.reshape(-1, 3), axis=0))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(size=4), "size >= 8"),
        (dict(supersample=0), "supersample >= 1"),
        (dict(min_radius=0), "min_radius > 0"),
        (dict(min_radius=10, max_radius=5), "max_radius"),
        (dict(texture=-0.1), "texture must be in"),
        (dict(texture=1.5), "texture must be in"),
    ],
)
def test_bad_arguments_are_refused_with_the_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dead_leaves_image(**{"size": 64, **kwargs})


def test_photos_are_named_by_seed_and_index_with_their_source():
    photos = dead_leaves_photos(3, seed=2, size=64)
    assert [p["name"] for p in photos] == ["dead_leaves_2_0", "dead_leaves_2_1", "dead_leaves_2_2"]
    assert all(not p["grey"] and p["licence"] and "seed 2" in p["source"] for p in photos)
    assert np.array_equal(photos[1]["image"], dead_leaves_image(64, seed=[2, 1]))
    with pytest.raises(ValueError, match="count must be >= 1"):
        dead_leaves_photos(0)


def test_sky_photos_have_their_own_names_and_source():
    photos = dead_leaves_photos(2, seed=0, size=48, sky=True)
    assert [p["name"] for p in photos] == ["dead_leaves_sky_0_0", "dead_leaves_sky_0_1"]
    assert "sky" in photos[0]["source"] and np.array_equal(photos[1]["image"], dead_leaves_image(48, seed=[0, 1], sky=True))


def test_the_command_writes_pngs(tmp_path):
    assert main(["--out", str(tmp_path), "--count", "2", "--seed", "1", "--size", "48"]) == 0
    written = sorted(tmp_path.glob("*.png"))
    assert [p.name for p in written] == ["dead_leaves_1_0.png", "dead_leaves_1_1.png"]
    assert np.array_equal(np.asarray(Image.open(written[0])), dead_leaves_image(48, seed=[1, 0]))
