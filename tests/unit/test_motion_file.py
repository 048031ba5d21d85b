import json
import os

import numpy as np
import pytest

from core.errors import ExitCode, InputFileError, InputNotFoundError, OutputError
from core.motion_file import Keypoints2D, MotionClip, read_keypoints, read_motion, write_keypoints, write_motion


def _clip(t=7):
    rng = np.random.default_rng(0)
    return MotionClip(
        rng.uniform(0, 500, (t, 17, 2)).astype(np.float32), rng.uniform(0, 1, (t, 17)).astype(np.float32),
        np.ones(t, bool), 30.0, (640, 480),
        joints_3d=rng.normal(size=(t, 17, 3)).astype(np.float32), root=rng.normal(size=(t, 3)).astype(np.float32),
        meta={"weights": "x"},
    )


def test_motion_round_trip(tmp_path):
    c = _clip()
    p = write_motion(tmp_path / "m.npz", c)
    r = read_motion(p)
    assert np.array_equal(r.joints_3d, c.joints_3d) and np.array_equal(r.root, c.root)
    assert r.fps == 30.0 and r.image_size == (640, 480) and r.meta["weights"] == "x"
    assert r.meta["format_version"] == 1
    with np.load(p, allow_pickle=False) as z:  # the contract's keys and dtypes
        assert z["joints_3d"].dtype == np.float32 and z["valid"].dtype == bool
        assert z["joint_names"].shape == (17,) and json.loads(str(z["meta"]))
    assert not list(tmp_path.glob(".*tmp*"))
    mask = os.umask(0)
    os.umask(mask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~mask  # like any file the user makes, not the temp file's 0600


def test_keypoints_with_only_required_keys(tmp_path):
    p = tmp_path / "k.npz"
    np.savez(p, joints_2d=np.random.default_rng(0).uniform(10, 40, (3, 17, 2)), scores=np.ones((3, 17)),
             valid=np.array([1, 0, 1]), fps=25, image_size=np.array([100, 50]))
    k = read_keypoints(p)
    assert k.num_frames == 3 and k.valid.tolist() == [True, False, True] and k.image_size == (100, 50)


def test_keypoints_other_detectors_write_are_read_or_refused_with_the_reason(tmp_path):
    """NaN where nobody was found is read (as zeros, filled later); coordinates that cannot be this image's pixels
    (normalised 0-1, or astronomically far) are refused."""
    rng = np.random.default_rng(0)
    xy = rng.uniform(100, 300, (4, 17, 2))
    xy[2] = np.nan
    p = tmp_path / "k.npz"
    np.savez(p, joints_2d=xy, scores=np.ones((4, 17)), valid=np.array([1, 1, 0, 1]), fps=30,
             image_size=np.array([640, 480]))
    assert np.all(read_keypoints(p).joints_2d[2] == 0)
    for bad, said in ((xy / 640, "spans under 2 px"), (xy * 1e30, r"reaches 2.99e\+32 px on a 640x480 image")):
        np.savez(p, joints_2d=np.nan_to_num(bad), scores=np.ones((4, 17)), valid=np.ones(4, bool), fps=30,
                 image_size=np.array([640, 480]))
        with pytest.raises(InputFileError, match=said):
            read_keypoints(p)


def test_keypoints_of_another_resolution_are_read_with_a_warning(tmp_path, caplog):
    """Keypoints detected on a 4K frame with a 1080p image size lift to nonsense: said, not silently lifted."""
    xy = np.random.default_rng(0).uniform([500, 200], [1500, 900], (4, 17, 2)) * 3  # a 4K frame's
    p = tmp_path / "k.npz"
    np.savez(p, joints_2d=xy, scores=np.ones((4, 17)), valid=np.ones(4, bool), fps=30, image_size=np.array([1920,
                                                                                                           1080]))
    with caplog.at_level("WARNING"):
        read_keypoints(p)
    assert "lies over half an image outside the stated 1920x1080 image" in caplog.text
    caplog.clear()
    close_up = xy / 3
    close_up[:, :7, 1] = 2800.0  # a close-up: the legs and pelvis guessed far below the frame
    for fine in (xy / 3, close_up):
        np.savez(p, joints_2d=fine, scores=np.ones((4, 17)), valid=np.ones(4, bool), fps=30,
                 image_size=np.array([1920, 1080]))
        with caplog.at_level("WARNING"):
            read_keypoints(p)
        assert not caplog.text


def _save(path, **over):
    base = dict(joints_2d=np.zeros((3, 17, 2), np.float32), scores=np.ones((3, 17), np.float32),
                valid=np.ones(3, bool), fps=np.float64(30), image_size=np.array([64, 48]))
    base.update(over)
    base = {k: v for k, v in base.items() if v is not None}
    np.savez(path, **base)
    return path


@pytest.mark.parametrize("over,needle", [
    (dict(scores=None), "missing keys"),
    (dict(joints_2d=np.zeros((3, 16, 2))), "shape"),
    (dict(joints_2d=np.full((3, 17, 2), np.nan)), "NaN"),
    (dict(joints_2d=np.array([["a"] * 2] * 17 * 3).reshape(3, 17, 2)), "dtype"),
    (dict(valid=np.zeros(3, bool)), "no frame"),
    (dict(fps=np.float64(-1)), "fps"),
    (dict(image_size=np.array([0, 5])), "image_size"),
    (dict(scores=np.ones((4, 17))), "shape"),
])
def test_malformed_keypoints_rejected(tmp_path, over, needle):
    p = _save(tmp_path / "bad.npz", **over)
    with pytest.raises(InputFileError, match=needle) as e:
        read_keypoints(p)
    assert str(p) in str(e.value) and e.value.exit_code == ExitCode.BAD_INPUT


def test_object_arrays_are_refused(tmp_path):
    p = tmp_path / "obj.npz"
    np.savez(p, joints_2d=np.array([{"a": 1}] * 3, dtype=object), scores=np.ones((3, 17)), valid=np.ones(3),
             fps=30, image_size=np.array([1, 1]))
    with pytest.raises(InputFileError):
        read_keypoints(p)


def test_not_an_npz_and_missing(tmp_path):
    bad = tmp_path / "x.npz"
    bad.write_text("hello")
    with pytest.raises(InputFileError):
        read_motion(bad)
    with pytest.raises(InputNotFoundError):
        read_motion(tmp_path / "nope.npz")


def test_keypoints_file_is_not_a_motion_file(tmp_path):
    p = write_keypoints(tmp_path / "k.npz", Keypoints2D(np.zeros((2, 17, 2)), np.ones((2, 17)), np.ones(2, bool),
                                                          30.0, (10, 10)))
    with pytest.raises(InputFileError, match="missing keys"):
        read_motion(p)


def test_newer_format_version_refused(tmp_path):
    c = _clip()
    c.meta["format_version"] = 99
    p = write_motion(tmp_path / "m.npz", c)
    with pytest.raises(InputFileError, match="newer"):
        read_motion(p)


def test_format_version_written_as_a_float_is_read_and_nonsense_is_named(tmp_path):
    c = _clip()
    c.meta["format_version"] = 1.0  # how other tools' JSON writes a number
    assert read_motion(write_motion(tmp_path / "m.npz", c)).num_frames == 7
    for bad in ("1", 0, 1.5, True):
        c.meta["format_version"] = bad
        with pytest.raises(InputFileError, match="is not a version number"):
            read_motion(write_motion(tmp_path / "m.npz", c))


def test_unwritable_output(tmp_path):
    with pytest.raises(OutputError):
        write_motion(tmp_path / "missing_dir" / "m.npz", _clip())
    with pytest.raises(OutputError):
        write_motion(tmp_path / "m.txt", _clip())


def test_several_files_are_written_all_or_none(tmp_path, monkeypatch):
    """capture writes its motion and keypoints files together: a failure on the second leaves neither, nor a temp."""
    import core.motion_file as mf

    c = _clip()
    first, second = tmp_path / "m.npz", tmp_path / "kp.npz"
    real_write = mf._write_npz

    def full_disk_on_second(fd, tmp, path, arrays):
        if path == second:
            os.close(fd)
            raise OutputError(f"{path}: write failed (No space left on device); check free space and permissions")
        real_write(fd, tmp, path, arrays)

    monkeypatch.setattr(mf, "_write_npz", full_disk_on_second)
    with pytest.raises(OutputError, match="kp.npz"):
        mf.atomic_save_all([(first, mf.motion_arrays(c)), (second, mf.keypoints_arrays(c))])
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(mf, "_write_npz", real_write)
    assert mf.atomic_save_all([(first, mf.motion_arrays(c)), (second, mf.keypoints_arrays(c))]) == [first, second]
    assert np.array_equal(read_motion(first).joints_3d, c.joints_3d)
    assert np.array_equal(read_keypoints(second).joints_2d, c.joints_2d)


def test_a_failed_rename_is_an_output_error(tmp_path, monkeypatch):
    """Windows: the target held open by another program. One line, exit code of an output error, no temp left."""
    import core.motion_file as mf

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(mf.os, "replace", refuse)
    with pytest.raises(OutputError, match="m.npz: write failed"):
        write_motion(tmp_path / "m.npz", _clip())
    assert list(tmp_path.iterdir()) == []
