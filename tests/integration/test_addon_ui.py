"""The add-on's panels, preferences, custom mapping and rig presets, in the bpy module.

Draw code runs against a recording FakeLayout that checks every drawn property and operator
exists; rig choices are exercised on the shared characters (skipped when ../shared/data is absent).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy", reason="needs the bpy module (pip install bpy==4.5.15)")

import addon_harness as harness  # noqa: E402
from addon_harness import Drawable, FakeLayout, write_motion_npz  # noqa: E402

pytestmark = pytest.mark.bpy


@pytest.fixture(scope="module")
def addon(tmp_path_factory):
    """The installed, enabled extension module."""
    yield from harness.installed_addon(tmp_path_factory)


@pytest.fixture()
def scene(addon, tmp_path, monkeypatch):
    """A clean scene wired to a fake worker."""
    yield from harness.prepared_scene(addon, tmp_path, monkeypatch)


@pytest.mark.parametrize("running", [False, True])
def test_panels_and_preferences_draw(addon, scene, running):
    job = scene.posemoe.job
    job.running, job.progress, job.stage, job.error = running, 0.4, "lift", "" if running else "last error"
    calls = []
    for panel in (addon.panels.POSEMOE_PT_main, addon.panels.POSEMOE_PT_options, addon.panels.POSEMOE_PT_mapping):
        panel.draw(Drawable(FakeLayout(calls)), bpy.context)
    prefs = addon.preferences.get_prefs()
    addon.preferences.POSEMOE_AddonPreferences.draw(Drawable(FakeLayout(calls), prefs), bpy.context)
    assert ("operator", "posemoe.capture") in calls and ("operator", "posemoe.setup_engine") in calls
    assert (("progress", pytest.approx(0.4)) in calls) == running
    assert (("operator", "posemoe.cancel_capture") in calls) == running
    assert (("label", "last error") in calls) != running
    job.running = False
    bpy.ops.posemoe.mapping_fill()  # no armature: all 17 H36M joints with the default rig's bones
    settings = scene.posemoe
    assert len(settings.mapping) == 17 and settings.rig_preset == "custom"
    assert settings.mapping_dict()["l_knee"] == "LeftLeg"
    settings.armature = addon.ops_capture.bake_motion_file(
        bpy.context, Path(settings.video_path).with_name("synthetic.npz"),
        addon.ops_capture.BakeOptions(None, True))[1]
    for row in settings.mapping:
        addon.panels.POSEMOE_UL_mapping.draw_item(None, bpy.context, FakeLayout(calls), settings, row, 0,
                                                  settings, "mapping_index")


def test_custom_mapping_fill_save_load_and_bake(addon, scene, tmp_path):
    motion = write_motion_npz(tmp_path / "jump.npz")
    assert bpy.ops.posemoe.import_motion(filepath=str(motion)) == {'FINISHED'}
    settings = scene.posemoe
    settings.create_armature = False
    assert bpy.ops.posemoe.mapping_fill() == {'FINISHED'}
    assert settings.rig_preset == "custom" and settings.mapping_dict()["pelvis"] == "Hips"
    path = tmp_path / "rig.json"
    assert bpy.ops.posemoe.mapping_save(filepath=str(path)) == {'FINISHED'}
    assert json.loads(path.read_text())["h36m_to_bone"]["r_wrist"] == "RightHand"
    settings.mapping.clear()
    with pytest.raises(RuntimeError, match="custom mapping is empty"):
        bpy.ops.posemoe.import_motion(filepath=str(motion))
    assert bpy.ops.posemoe.mapping_load(filepath=str(path)) == {'FINISHED'}
    assert len(settings.mapping) == 17
    settings.mapping_index = 10
    removed = settings.mapping[10].source
    bpy.ops.posemoe.mapping_remove()
    assert len(settings.mapping) == 16 and removed not in settings.mapping_dict()
    assert bpy.ops.posemoe.mapping_add() == {'FINISHED'} and settings.mapping_index == 16
    settings.mapping[16].source, settings.mapping[16].target = removed, "HeadTop_End"
    assert bpy.ops.posemoe.import_motion(filepath=str(motion)) == {'FINISHED'}
    assert sorted(a.name for a in bpy.data.actions) == ["jump", "jump.001"]
    other = tmp_path / "other_rig.json"
    other.write_text(json.dumps({"h36m_to_bone": {j: f"other:{j}" for j in settings.mapping_dict()}}))
    assert bpy.ops.posemoe.mapping_load(filepath=str(other)) == {'FINISHED'}  # loaded, with a warning that
    assert len(addon.ops_mapping.missing_bones(settings.armature, settings.mapping_dict())) == 17  # names these


def test_a_rig_no_preset_names_is_filled_and_baked_from_its_bone_names(addon, scene, tmp_path):
    motion = write_motion_npz(tmp_path / "walk.npz")
    assert bpy.ops.posemoe.import_motion(filepath=str(motion)) == {'FINISHED'}
    settings = scene.posemoe
    for bone in settings.armature.data.bones:  # Left/Right -> L_/R_ under a namespace: no preset has these
        bone.name = "Char_" + bone.name.replace("Left", "L_").replace("Right", "R_")
    settings.create_armature, settings.rig_preset = False, "auto"
    assert bpy.ops.posemoe.import_motion(filepath=str(motion)) == {'FINISHED'}  # auto: read off the names
    assert bpy.ops.posemoe.mapping_fill() == {'FINISHED'}
    assert settings.mapping_dict()["l_knee"] == "Char_L_Leg" and settings.mapping_dict()["pelvis"] == "Char_Hips"


CHARACTERS = {"human_mixamo": "mixamo", "human_small": "mixamo", "human_ue": "unreal", "human_cmu": "cmu",
              "human_rigify": "rigify"}


@pytest.mark.parametrize("character, family", sorted(CHARACTERS.items()))
def test_import_onto_shared_characters(addon, scene, shared_data, tmp_path, character, family):
    """The panel's rig choices (and auto-detect) resolve to a working preset on each shared character."""
    blend = shared_data / "characters" / f"{character}.blend"
    if not blend.is_file():
        pytest.skip(f"{blend} absent")
    with bpy.data.libraries.load(str(blend)) as (src, dst):
        dst.objects = [name for name in src.objects]
    arm = next(o for o in dst.objects if o is not None and o.type == 'ARMATURE')
    for obj in dst.objects:
        if obj is not None:
            scene.collection.objects.link(obj)
    settings = scene.posemoe
    settings.armature, settings.create_armature = arm, False
    motion = write_motion_npz(tmp_path / "wave.npz")
    for choice in (family, "auto"):
        settings.rig_preset = choice
        assert bpy.ops.posemoe.import_motion(filepath=str(motion)) == {'FINISHED'}
    assert [a.name for a in bpy.data.actions] == ["wave", "wave.001"]
    assert arm.animation_data.action.name == "wave.001"
