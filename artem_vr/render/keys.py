"""The keys of the mirror window (and the XR output's desktop mirror) as data: which controller
method each key calls, and the same list in words for `artem-vr run --help`. Plain data, no
window library: the command line's help reads it without loading glfw, OpenGL or numpy."""

from __future__ import annotations

STRENGTH_STEP = 0.1

#: glfw key name → (controller method, arguments). Names are glfw.KEY_* without the prefix.
KEY_BINDINGS: dict[str, tuple[str, tuple]] = {
    "RIGHT": ("next_style", ()),
    "LEFT": ("prev_style", ()),
    **{str(d): ("pick", (d - 1,)) for d in range(1, 10)},  # 1 picks the first style (index 0)
    **{f"KP_{d}": ("pick", (d - 1,)) for d in range(1, 10)},
    "EQUAL": ("change_strength", (+STRENGTH_STEP,)),  # the +/= key, with or without shift
    "KP_ADD": ("change_strength", (+STRENGTH_STEP,)),
    "MINUS": ("change_strength", (-STRENGTH_STEP,)),
    "KP_SUBTRACT": ("change_strength", (-STRENGTH_STEP,)),
    "SPACE": ("toggle_stylize", ()),
    "M": ("cycle_method", ()),
    "T": ("toggle_temporal", ()),
    "C": ("toggle_stereo_consistency", ()),
    "R": ("recenter", ()),
    "H": ("toggle_hud", ()),
    "F": ("toggle_fovea_outline", ()),
    "S": ("snapshot", ()),
    "SLASH": ("show_help", ()),  # ? is shift+/ on US layouts
    "F1": ("show_help", ()),
    "Q": ("quit", ()),
    "ESCAPE": ("quit", ()),
}

#: the keys in words, for `run --help`, the README and the HUD's help (same order as above)
KEYS_HELP = (
    "keys (mirror window, XR mirror window):\n"
    "  left/right  previous/next style        1-9  pick a style (says so when there are fewer)\n"
    "  + / -       strength up/down           space  stylization on/off\n"
    "  m           next method                t  temporal smoothing on/off\n"
    "  c           stereo consistency on/off  r  recenter the screen (headset, --view world)\n"
    "  h           HUD on/off                 s  snapshot: the eye images to a PNG in --out\n"
    "  f           foveal window outline on/off (with --foveate on; default in the headset)\n"
    "  ? (or F1)   key list in the HUD        q / Esc  quit"
)
#: held keys that repeat (the others act once per press)
REPEATING = {"RIGHT", "LEFT", "EQUAL", "KP_ADD", "MINUS", "KP_SUBTRACT"}
