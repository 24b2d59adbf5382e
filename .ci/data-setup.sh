#!/usr/bin/env bash
# CI step: make sure the real test data (photos, paintings, videos, stereo pairs) is assembled.
#
# Runs ../shared/data/assemble.sh into DIR=$ARTEM_DATA_DIR (default /var/cache/artem-data, or
# ${XDG_CACHE_HOME:-~/.cache}/artem-vr/data when /var/cache is not writable) with a subset of its
# Debian packages (KEEP below: ~130 MB of .debs instead of ~350 MB) that still gives video/,
# stereo/ (two pairs with ground-truth disparity), a few dozen content/ photos and some paintings.
# Prints DIR on stdout (messages go to stderr), so: export ARTEM_VR_TEST_DATA=$(bash .ci/data-setup.sh)
#
# A complete assembly (stamped with this subset and the assembler's checksum) is used as it is,
# without touching apt or the network; FORCE=1 re-runs the assembler anyway (it keeps its .deb
# cache in DIR/cache, so a re-run downloads nothing already there). With ARTEM_VR_TEST_DATA
# already set, nothing is done: that folder is the one the tests read.
#
# When the data cannot be assembled (no network, no root for apt-get, a package gone), this is
# NOT a failure of the test command: a developer offline still wants the rest of the suite. It
# prints one line saying why (the log is DIR/assemble.log), writes that line to DIR/SETUP-FAILED,
# and exits 1 after still printing DIR; tools/test.sh carries on, and the tests that need the data
# skip with that line as their reason (tests/conftest.py, fixture `real_data`), so `pytest -ra`
# lists it. Needs root (apt-get), or sudo -n when not root.
set -euo pipefail
cd "$(dirname "$0")/.."
ASSEMBLE=../shared/data/assemble.sh
# The packages kept, and what each gives (the assembler's other packages are skipped):
KEEP=(
  opencv-doc                      # videos vtest.avi + tree.avi, Aloe stereo + GT, 12 photos, Starry Night
  python3-skimage                 # Middlebury motorcycle stereo + GT, 3 photos
  python3-imageio                 # cockatoo.mp4 (hand-held video)
  darknet                         # 6 photos, The Scream
  gnome-control-center-data       # 15 portrait photos
  python-matplotlib-data          # Grace Hopper portrait
  wordpress-theme-twentytwentyone # 9 Berthe Morisot paintings
)
MIN_PHOTOS=24

say() { echo "data-setup: $*" >&2; }

if [ -n "${ARTEM_VR_TEST_DATA:-}" ]; then
  say "ARTEM_VR_TEST_DATA is set: the tests read $ARTEM_VR_TEST_DATA; nothing to do"
  echo "$ARTEM_VR_TEST_DATA"
  exit 0
fi

if [ -n "${ARTEM_DATA_DIR:-}" ]; then
  DIR=$ARTEM_DATA_DIR
elif [ -w /var/cache ] || [ -w /var/cache/artem-data ]; then
  DIR=/var/cache/artem-data
else
  DIR=${XDG_CACHE_HOME:-$HOME/.cache}/artem-vr/data
fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

fail() {  # the one line, recorded where the tests look; DIR still printed for them
  local line="real test data not assembled: $1"
  echo "$line" > "$DIR/SETUP-FAILED"
  say "$line"
  echo "$DIR"
  exit 1
}

[ -f "$ASSEMBLE" ] || fail "$ASSEMBLE not found (../shared/data must be beside the repository)"

# SKIP_PKGS = the assembler's package list (its PKGS=( ... ) array) less KEEP.
mapfile -t ALL < <(sed -n '/^PKGS=(/,/^)/{/^PKGS=(/d;/^)/d;s/#.*//;p}' "$ASSEMBLE" | tr -s ' \t' '\n' | sed '/^$/d')
((${#ALL[@]})) || fail "could not read the package list (PKGS=( ... )) of $ASSEMBLE"
SKIP=()
for p in "${ALL[@]}"; do [[ " ${KEEP[*]} " == *" $p "* ]] || SKIP+=("$p"); done
for p in "${KEEP[@]}"; do [[ " ${ALL[*]} " == *" $p "* ]] || say "note: $ASSEMBLE no longer lists $p"; done
STAMP="assemble.sh $(sha256sum "$ASSEMBLE" | cut -d' ' -f1); keep ${KEEP[*]}"

count() { find "$DIR/$1" -maxdepth 1 -type f -name "${2:-*}" 2>/dev/null | wc -l; }
# Why the assembly in DIR is not usable (empty when it is).
incomplete() {
  [ -s "$DIR/SOURCES.tsv" ] || { echo "no SOURCES.tsv (the assembler did not finish)"; return; }
  [ "$(count video)" -ge 1 ] || { echo "video/ is empty"; return; }
  [ "$(count stereo '*_disparity*')" -ge 1 ] || { echo "stereo/ has no pair with ground-truth disparity"; return; }
  [ "$(count content '*.jpg')" -ge $MIN_PHOTOS ] || { echo "content/ has $(count content '*.jpg') photos (< $MIN_PHOTOS)"; return; }
}
summary() { echo "$(count content '*.jpg') photos, $(count style '*.jpg') paintings, $(count video) videos, $(count stereo '*_disparity*') stereo pairs with GT; $(du -sh "$DIR" | cut -f1)"; }

exec 9>"$DIR/.lock"
flock 9  # one assembly at a time in DIR; a second run waits, then finds it cached

if [ "${FORCE:-0}" != 1 ] && [ "$(cat "$DIR/.stamp" 2>/dev/null || true)" = "$STAMP" ] && [ -z "$(incomplete)" ]; then
  rm -f "$DIR/SETUP-FAILED"
  say "cached test data in $DIR ($(summary))"
  echo "$DIR"
  exit 0
fi

rm -f "$DIR/.stamp" "$DIR/SETUP-FAILED"
# The assembler's python3 needs Pillow: the project's .venv has it (a dependency), which spares
# the assembler its own pip download of Pillow (~27 MB more in DIR/cache).
APATH=$PATH
if .venv/bin/python3 -c 'import PIL' 2>/dev/null; then APATH=$PWD/.venv/bin:$PATH; fi
RUN=(env PATH="$APATH" SKIP_PKGS="${SKIP[*]}" PRUNE=1 bash "$ASSEMBLE" "$DIR")
if [ "$(id -u)" != 0 ]; then
  if sudo -n true 2>/dev/null; then RUN=(sudo -n "${RUN[@]}"); else NOROOT=" (not root, and no sudo -n for apt-get)"; fi
fi
say "assembling the test data into $DIR (downloads what $DIR/cache lacks: ~130 MB of Debian packages the first time, about a minute; log: $DIR/assemble.log)"
t0=$(date +%s)
set +e
# Progress: the assembler's step lines (">> apt-get download ...", "!! could not ..."), the rest to the log.
"${RUN[@]}" > "$DIR/assemble.log" 2>&1 &
pid=$!
tail -n +1 --pid=$pid -f "$DIR/assemble.log" 2>/dev/null | grep --line-buffered -E '^(>>|!!)' | sed -u 's/^/data-setup: /' >&2
wait $pid
rc=$?
set -e
if [ "$(id -u)" != 0 ] && [ -z "${NOROOT:-}" ]; then sudo -n chown -R "$(id -u):$(id -g)" "$DIR"; fi
failed=$(grep -o '^!! could not download [^ ]*' "$DIR/assemble.log" | awk '{print $4}' | tr '\n' ' ' || true)
[ $rc = 0 ] || fail "$ASSEMBLE exited $rc: $(grep -v '^>>' "$DIR/assemble.log" | tail -n1)${NOROOT:-} (log: $DIR/assemble.log)"
why=$(incomplete)
[ -z "$why" ] || fail "$why${failed:+ (could not download: ${failed% })}${NOROOT:-} (log: $DIR/assemble.log)"
echo "$STAMP" > "$DIR/.stamp"
say "test data ready in $DIR in $(($(date +%s) - t0)) s ($(summary))${failed:+; could not download: ${failed% }}"
echo "$DIR"
