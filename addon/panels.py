"""The "PoseMoE" tab of the 3D View sidebar: draw code only (state lives in properties.py)."""

from __future__ import annotations

import bpy

from . import preferences


class POSEMOE_UL_mapping(bpy.types.UIList):
    """Rows of the custom mapping: source key -> target bone."""

    bl_idname = "POSEMOE_UL_mapping"

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0, flt_flag=0):
        """Draw one mapping row; the bone field searches the target armature's bones."""
        row = layout.row(align=True)
        row.prop(item, "source", text="", emboss=False)
        arm = data.armature
        if arm is not None and arm.type == 'ARMATURE':
            row.prop_search(item, "target", arm.data, "bones", text="")
        else:
            row.prop(item, "target", text="")


class _PosemoePanel:
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "PoseMoE"


class POSEMOE_PT_main(_PosemoePanel, bpy.types.Panel):
    """Video, target, Capture button and progress."""

    bl_idname = "POSEMOE_PT_main"
    bl_label = "PoseMoE Mocap"

    def draw(self, context: bpy.types.Context) -> None:
        """Draw the inputs, Capture/Import, and the job's progress or last result."""
        layout = self.layout
        settings = context.scene.posemoe
        job = settings.job
        col = layout.column()
        col.enabled = not job.running
        col.prop(settings, "video_path")
        row = col.row()
        row.enabled = not settings.create_armature
        row.prop(settings, "armature")
        col.prop(settings, "create_armature")
        col.prop(settings, "rig_preset")
        reason = preferences.missing_worker_reason(context)
        if reason:
            layout.label(text=reason, icon='ERROR')
            layout.operator("preferences.addon_show", text="Open Preferences",
                            icon='PREFERENCES').module = __package__
        row = layout.row(align=True)
        row.scale_y = 1.4
        row.enabled = not job.running
        row.operator("posemoe.capture", icon='REC')
        layout.operator("posemoe.import_motion", icon='IMPORT')
        preferences.draw_job(layout, job, "posemoe.cancel_capture")


class POSEMOE_PT_options(_PosemoePanel, bpy.types.Panel):
    """Frame start, smoothing, root motion."""

    bl_idname = "POSEMOE_PT_options"
    bl_label = "Options"
    bl_parent_id = "POSEMOE_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        """Draw the bake and clean-up options."""
        settings = context.scene.posemoe
        col = self.layout.column()
        col.use_property_split = True
        col.enabled = not settings.job.running
        col.prop(settings, "frame_start")
        col.prop(settings, "smoothing")
        col.prop(settings, "subject_height")
        col.prop(settings, "lens_mm")
        sub = col.column()
        sub.enabled = settings.lens_mm == 0.0
        sub.prop(settings, "use_video_lens")
        col.prop(settings, "foot_lock")
        col.prop(settings, "level_camera")
        col.prop(settings, "static_camera")
        col.prop(settings, "lying_down")
        col.prop(settings, "root_motion")
        sub = col.column()
        sub.enabled = settings.root_motion
        sub.prop(settings, "in_place")
        row = sub.row()
        row.enabled = not settings.in_place
        row.prop(settings, "travel_on_root")
        row = sub.row()
        row.enabled = settings.in_place or settings.travel_on_root  # in place: the turn alone
        row.prop(settings, "turn_on_root")


class POSEMOE_PT_mapping(_PosemoePanel, bpy.types.Panel):
    """The custom bone mapping table (rig preset "Custom mapping")."""

    bl_idname = "POSEMOE_PT_mapping"
    bl_label = "Custom Mapping"
    bl_parent_id = "POSEMOE_PT_main"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context: bpy.types.Context) -> None:
        """Draw the mapping list with add/remove, fill and JSON load/save buttons."""
        settings = context.scene.posemoe
        layout = self.layout
        layout.active = settings.rig_preset == "custom"
        row = layout.row()
        row.template_list("POSEMOE_UL_mapping", "", settings, "mapping", settings, "mapping_index", rows=4)
        col = row.column(align=True)
        col.operator("posemoe.mapping_add", text="", icon='ADD')
        col.operator("posemoe.mapping_remove", text="", icon='REMOVE')
        row = layout.row(align=True)
        row.operator("posemoe.mapping_fill", icon='ARMATURE_DATA')
        row = layout.row(align=True)
        row.operator("posemoe.mapping_load", icon='FILEBROWSER')
        row.operator("posemoe.mapping_save", icon='FILE_TICK')


classes = (POSEMOE_UL_mapping, POSEMOE_PT_main, POSEMOE_PT_options, POSEMOE_PT_mapping)
register, unregister = bpy.utils.register_classes_factory(classes)
