"""PoseMoE engine: skeleton, video, 2D extraction, the lifter, retargeting math.

Never imports bpy or mathutils. Modules marked Blender-safe in STYLE.md ([B]) import
only the standard library and numpy, so the add-on can use them inside Blender.
"""

__version__ = "0.1.0"
