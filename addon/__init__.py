"""PoseMoE Mocap for Blender: the add-on (panel, operators, preferences) driving a worker subprocess.

Imports bpy, numpy and, through ``_engine`` only, the engine's Blender-safe modules; never
torch, cv2 or mediapipe, which run in the worker's own Python. register()/unregister() only.
"""

import bpy

from . import modal_job, ops_capture, ops_mapping, ops_setup, panels, preferences, properties

_MODULES = (properties, preferences, ops_capture, ops_mapping, ops_setup, panels)
"""Registration order: PropertyGroups before their users, panels last."""


def register() -> None:
    """Register every module's classes, then the scene and window-manager properties."""
    for module in _MODULES:
        module.register()
    bpy.types.Scene.posemoe = bpy.props.PointerProperty(type=properties.PosemoeSettings)
    bpy.types.WindowManager.posemoe_engine = bpy.props.PointerProperty(type=properties.PosemoeEngineState)


def unregister() -> None:
    """Stop running jobs, remove the properties, then unregister the modules in reverse order."""
    modal_job.stop_all()
    del bpy.types.WindowManager.posemoe_engine
    del bpy.types.Scene.posemoe
    for module in reversed(_MODULES):
        module.unregister()
