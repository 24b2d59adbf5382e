"""Controller input by meaning: what each action does, and each profile's bindings as data.

Actions are named for what they do (``next_style``, ``strength``, …), never for a button.
:data:`BINDINGS` maps each interaction profile to ``{action: [input paths]}``; where a profile
has no button to spare for an action, a comment says so and the action is simply left out
(the runtime lets users rebind in its own UI, e.g. SteamVR's controller bindings).

A button press is an *edge*: one press, one step, however long it is held. The trigger is a
dial: each pull sets the strength to the furthest point of that pull (see :class:`TriggerDial`),
so letting go does not undo it. Every change goes through ``pipeline.controller`` (which prints
its one line) and a switch is confirmed by a short haptic pulse on the hand that pressed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from artem_vr.xr.handles import HandleLedger, StackOwner, owned

log = logging.getLogger(__name__)

LEFT = "/user/hand/left"
RIGHT = "/user/hand/right"
HANDS = (LEFT, RIGHT)


@dataclass(frozen=True)
class ActionSpec:
    name: str  # also the controller method it calls (except strength → set_strength)
    kind: str  # "button" | "float" | "haptic"
    label: str


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("next_style", "button", "Next style"),
    ActionSpec("prev_style", "button", "Previous style"),
    ActionSpec("toggle_stylize", "button", "Stylize on/off"),
    ActionSpec("cycle_method", "button", "Next stylization method"),
    ActionSpec("recenter", "button", "Recenter the screen"),
    ActionSpec("toggle_temporal", "button", "Temporal smoothing on/off"),
    ActionSpec("toggle_stereo_consistency", "button", "Stereo consistency on/off"),
    ActionSpec("toggle_hud", "button", "Show/hide the HUD"),
    ActionSpec("strength", "float", "Style strength"),
    ActionSpec("haptic", "haptic", "Confirmation pulse"),
)

_HAPTIC = [f"{LEFT}/output/haptic", f"{RIGHT}/output/haptic"]

#: interaction profile → action → input/output paths.  The right hand steps through styles
#: (A/B or its equivalents) and holds the strength dial (trigger); the left hand has the toggles.
BINDINGS: dict[str, dict[str, list[str]]] = {
    "/interaction_profiles/valve/index_controller": {
        "next_style": [f"{RIGHT}/input/a/click"],
        "prev_style": [f"{RIGHT}/input/b/click"],
        "strength": [f"{RIGHT}/input/trigger/value"],
        "toggle_stylize": [f"{LEFT}/input/a/click"],
        "cycle_method": [f"{LEFT}/input/b/click"],
        "recenter": [f"{LEFT}/input/thumbstick/click"],
        "toggle_temporal": [f"{RIGHT}/input/thumbstick/click"],
        "toggle_stereo_consistency": [f"{LEFT}/input/trigger/click"],
        "toggle_hud": [f"{LEFT}/input/squeeze/value"],  # a grip of the left hand (a value: the runtime thresholds it)
        "haptic": _HAPTIC,
    },
    "/interaction_profiles/htc/vive_controller": {
        # The Vive wand has no A/B: the trackpad click steps forward (right) / back (left).
        "next_style": [f"{RIGHT}/input/trackpad/click"],
        "prev_style": [f"{LEFT}/input/trackpad/click"],
        "strength": [f"{RIGHT}/input/trigger/value"],
        "toggle_stylize": [f"{RIGHT}/input/menu/click"],
        "cycle_method": [f"{LEFT}/input/menu/click"],
        "recenter": [f"{LEFT}/input/squeeze/click"],
        "toggle_temporal": [f"{RIGHT}/input/squeeze/click"],
        # toggle_stereo_consistency: no button left on the wand.
        "toggle_hud": [f"{LEFT}/input/trigger/click"],
        "haptic": _HAPTIC,
    },
    "/interaction_profiles/oculus/touch_controller": {
        "next_style": [f"{RIGHT}/input/a/click"],
        "prev_style": [f"{RIGHT}/input/b/click"],
        "strength": [f"{RIGHT}/input/trigger/value"],
        "toggle_stylize": [f"{LEFT}/input/x/click"],
        "cycle_method": [f"{LEFT}/input/y/click"],
        "recenter": [f"{LEFT}/input/thumbstick/click"],
        "toggle_temporal": [f"{RIGHT}/input/thumbstick/click"],
        "toggle_stereo_consistency": [f"{LEFT}/input/menu/click"],
        "toggle_hud": [f"{LEFT}/input/squeeze/value"],
        "haptic": _HAPTIC,
    },
    "/interaction_profiles/khr/simple_controller": {
        # Two buttons per hand (select, menu): only the four main commands fit.
        "next_style": [f"{RIGHT}/input/select/click"],
        "prev_style": [f"{LEFT}/input/select/click"],
        "toggle_stylize": [f"{RIGHT}/input/menu/click"],
        "cycle_method": [f"{LEFT}/input/menu/click"],
        # strength: no analogue input on the simple controller.
        # recenter, toggle_temporal, toggle_stereo_consistency, toggle_hud: no buttons left.
        "haptic": _HAPTIC,
    },
}


class TriggerDial:
    """Trigger value (0–1) → strength. Each pull sets the strength to its furthest point.

    A pull starts when the value rises above ``start`` and ends when it falls below ``end``;
    during a pull the strength follows the peak, in steps of ``step`` (so holding still
    prints nothing). Returns the new strength from :meth:`update`, or None when unchanged.
    """

    def __init__(self, step: float = 0.05, start: float = 0.08, end: float = 0.03):
        self.step, self.start, self.end = step, start, end
        self.pulling = False
        self.peak = 0.0
        self.sent: float | None = None

    def update(self, value: float) -> float | None:
        if not self.pulling:
            if value <= self.start:
                return None
            self.pulling, self.peak, self.sent = True, 0.0, None
        if value < self.end:
            self.pulling = False
            return None
        if value <= self.peak:
            return None
        self.peak = value
        q = round(round(value / self.step) * self.step, 4)
        q = min(1.0, max(0.0, q))
        if q != self.sent:
            self.sent = q
            return q
        return None


class XrActions(StackOwner):
    """The action set, its actions and suggested bindings (instance level). Use as ``with``.

    ``attach(session)`` once per session; ``poll(session, controller)`` once per frame.
    """

    def __init__(self, instance, ledger: HandleLedger, bindings: dict[str, dict[str, list[str]]] | None = None):
        self.instance = instance
        self.xr = instance.xr
        self.ledger = ledger
        self.bindings = BINDINGS if bindings is None else bindings
        super().__init__()
        self.action_set = None
        self.actions: dict[str, object] = {}
        self.hand_paths: dict[str, int] = {}
        self.dial = TriggerDial()
        self.fired: list[tuple[str, str]] = []  # (action, hand) of every step, for tests/logs
        self.profiles: dict[str, str] = {}
        #: the eye-gaze pose action (XR_EXT_eye_gaze_interaction with an eye tracker), else None
        self.gaze_action = None
        self.eye_gaze = False

    def _open(self) -> None:
        xr, inst = self.xr, self.instance
        self.hand_paths = {h: inst.path(h) for h in HANDS}
        self.action_set = self._stack.enter_context(owned(
            self.ledger, "action_set",
            lambda: xr.create_action_set(inst.handle, xr.ActionSetCreateInfo(
                action_set_name="artem_vr", localized_action_set_name="Art'Em VR", priority=0)),
            xr.destroy_action_set))
        types = {"button": xr.ActionType.BOOLEAN_INPUT, "float": xr.ActionType.FLOAT_INPUT,
                 "haptic": xr.ActionType.VIBRATION_OUTPUT}
        for spec in ACTIONS:
            info = xr.ActionCreateInfo(action_type=types[spec.kind], action_name=spec.name,
                                       localized_action_name=spec.label,
                                       subaction_paths=list(self.hand_paths.values()))
            self.actions[spec.name] = self._stack.enter_context(owned(
                self.ledger, "action", lambda info=info: xr.create_action(self.action_set, info), xr.destroy_action))
        from artem_vr.xr.gaze import GAZE_PATH, GAZE_PROFILE, eye_gaze_supported  # foveation maths: torch

        self.eye_gaze = eye_gaze_supported(inst)
        if self.eye_gaze:  # not a command: a pose the foveal window follows (artem_vr.xr.gaze)
            info = xr.ActionCreateInfo(action_type=xr.ActionType.POSE_INPUT, action_name="gaze",
                                       localized_action_name="Eye gaze")
            self.gaze_action = self._stack.enter_context(owned(
                self.ledger, "action", lambda: xr.create_action(self.action_set, info), xr.destroy_action))
            xr.suggest_interaction_profile_bindings(inst.handle, xr.InteractionProfileSuggestedBinding(
                interaction_profile=inst.path(GAZE_PROFILE),
                suggested_bindings=[xr.ActionSuggestedBinding(self.gaze_action, inst.path(GAZE_PATH))]))
        log.info("eye gaze: %s", "tracked (the foveal window follows it)" if self.eye_gaze else
                 "not available (the foveal window stays at the view centre)")
        for profile, table in self.bindings.items():
            suggested = [xr.ActionSuggestedBinding(self.actions[name], inst.path(p))
                         for name, paths in table.items() for p in paths]
            try:
                xr.suggest_interaction_profile_bindings(inst.handle, xr.InteractionProfileSuggestedBinding(
                    interaction_profile=inst.path(profile), suggested_bindings=suggested))
            except xr.PathUnsupportedError as e:  # a runtime without this profile: skip it
                log.info("runtime does not support %s: %s", profile, e)

    def attach(self, session) -> None:
        xr = self.xr
        xr.attach_session_action_sets(session, xr.SessionActionSetsAttachInfo(action_sets=[self.action_set]))
        self.dial = TriggerDial()

    def update_profiles(self, session) -> None:
        """Remember which interaction profile each hand uses now (after a profile-changed event)."""
        xr = self.xr
        for hand, path in self.hand_paths.items():
            prof = xr.get_current_interaction_profile(session, path).interaction_profile
            name = xr.path_to_string(self.instance.handle, prof) if prof != xr.NULL_PATH else ""
            if self.profiles.get(hand) != name:
                self.profiles[hand] = name
                log.info("%s uses %s", hand, name or "no controller")

    def poll(self, session, controller) -> list[str]:
        """Sync the actions and apply every new press to ``controller``. Returns what fired."""
        xr = self.xr
        try:
            xr.sync_actions(session, xr.ActionsSyncInfo(active_action_sets=[xr.ActiveActionSet(self.action_set, xr.NULL_PATH)]))
        except xr.SessionNotFocused:  # a success code that pyopenxr raises: no input until focused
            return []
        fired: list[str] = []
        for spec in ACTIONS:
            if spec.kind != "button":
                continue
            for hand, path in self.hand_paths.items():
                st = xr.get_action_state_boolean(session, xr.ActionStateGetInfo(action=self.actions[spec.name],
                                                                                 subaction_path=path))
                if st.is_active and st.changed_since_last_sync and st.current_state:
                    getattr(controller, spec.name)()
                    self.fired.append((spec.name, hand))
                    fired.append(spec.name)
                    self.pulse(session, path)
        st = xr.get_action_state_float(session, xr.ActionStateGetInfo(action=self.actions["strength"],
                                                                       subaction_path=xr.NULL_PATH))
        if st.is_active:
            v = self.dial.update(float(st.current_state))
            if v is not None:
                controller.set_strength(v)
                fired.append("strength")
        return fired

    def pulse(self, session, hand_path: int, seconds: float = 0.03, amplitude: float = 0.6) -> None:
        xr = self.xr
        xr.apply_haptic_feedback(
            session, xr.HapticActionInfo(action=self.actions["haptic"], subaction_path=hand_path),
            xr.HapticVibration(duration=int(seconds * 1e9), frequency=0.0, amplitude=amplitude))
