#!/usr/bin/env bash
# thumbs: thumbnails per second through the media pipeline (services/media_pipeline.c, as
# atrium-media runs it: forked child, limits, libmagic, no scan) against vipsthumbnail -s 256 on
# the same files with the same parallelism, in the same run, and sharp (npm) on the JPEGs (it
# cannot decode HEIC here). Two comparisons, both printed:
#   full pipeline  preview 1280 + thumb 256 + the full-size original re-encoded for display: the
#                  work an asset costs, which vipsthumbnail does not do (aim 0.9 of its rate);
#   same work      the pipeline's thumb variant alone (media_run --thumb-only: same child, limits,
#                  blocked operations, fail_on, orientation, sRGB, stripping) against
#                  vipsthumbnail making the same 256 px file.
# The batch is measured THUMBS_RUNS times, taking turns, and each ratio is printed as its spread
# and per run, by the wall clock (files/s) and by CPU time (files per CPU-second, which other
# people's work on a shared machine disturbs much less). THUMBS_BASELINE=path/to/another/media_run adds that build's full pipeline to each
# run (before/after in one sitting). Needs build/tests/media_run (make units).
# THUMBS_ORIENTATION=6 (or 3, 8...) tags the JPEGs with that EXIF orientation, as phones write
# photos taken sideways (the pipeline then turns every variant upright, vipsthumbnail its thumb).
#   THUMBS_JPEGS (16), THUMBS_HEICS (8), THUMBS_PAR (2), THUMBS_RUNS (3), THUMBS_BASELINE,
#   THUMBS_ORIENTATION
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
NJ=${THUMBS_JPEGS:-16}
NH=${THUMBS_HEICS:-8}
PAR=${THUMBS_PAR:-2}
RUNS=${THUMBS_RUNS:-3}
BASELINE=${THUMBS_BASELINE:-}
ORIENTATION=${THUMBS_ORIENTATION:-}
RUN=$ROOT/build/tests/media_run
[ -x "$RUN" ] || make --no-print-directory build/tests/media_run >/dev/null
[ -z "$BASELINE" ] || [ -x "$BASELINE" ] || { echo "thumbs: THUMBS_BASELINE $BASELINE is not executable" >&2; exit 2; }
W=$(mktemp -d /tmp/atrium-thumbs.XXXXXX)
trap 'rm -rf "$W"' EXIT

# Inputs: 12 MP JPEGs (blurred colour noise, quality 85) and HEICs; copies of one encode
# each (heifsave of 12 MP takes seconds: the HEIC is 2000x1500).
mkdir -p "$W/jpeg" "$W/heic"
for b in 1 2 3; do vips gaussnoise "$W/n$b.v" 4000 3000 --sigma 30 --mean 128; done
vips bandjoin "$W/n1.v $W/n2.v $W/n3.v" "$W/rgb.v"
vips cast "$W/rgb.v" "$W/u.v" uchar
vips copy "$W/u.v" "$W/c.v" --interpretation srgb
vips gaussblur "$W/c.v" "$W/b.v" 0.7      # photo-like: about 3 MB at quality 85
vips cast "$W/b.v" "$W/bu.v" uchar
vips jpegsave "$W/bu.v" "$W/src.jpg" --Q 85
if [ -n "$ORIENTATION" ]; then
	# an EXIF block holding only Orientation, right after SOI
	python3 - "$W/src.jpg" "$ORIENTATION" <<'PY'
import struct, sys
path, o = sys.argv[1], int(sys.argv[2])
jpeg = open(path, "rb").read()
tiff = b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, o, 0) + struct.pack(">I", 0)
app1 = b"Exif\x00\x00" + tiff
open(path, "wb").write(jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:])
PY
	[ "$(vipsheader -f orientation "$W/src.jpg")" = "$ORIENTATION" ] || { echo "thumbs: could not tag the JPEGs" >&2; exit 2; }
fi
vips thumbnail "$W/src.jpg" "$W/mid.v" 2000
vips heifsave "$W/mid.v" "$W/src.heic" --Q 50 2>/dev/null
rm -f "$W"/*.v
for i in $(seq 1 "$NJ"); do cp "$W/src.jpg" "$W/jpeg/$i.jpg"; done
for i in $(seq 1 "$NH"); do cp "$W/src.heic" "$W/heic/$i.heic"; done

now() { date +%s.%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

# PAR lanes, each one long-lived process given its share of the files (as a worker process takes
# job after job; vipsthumbnail also takes many files). Prints files/s over the whole batch by the
# wall clock, and files per CPU-second (user + system of the lanes and their children, from
# /usr/bin/time: less disturbed by other work on the machine). The output directory is emptied
# first, so every run writes the same files.
lanes() {
	local dir=$1 t0 t1 n i cpu pids=()
	shift
	rm -rf "$W/out"
	mkdir -p "$W/out"
	n=$(ls "$dir" | wc -l)
	t0=$(now)
	for ((i = 0; i < PAR; i++)); do
		/usr/bin/time -f "%U %S" -o "$W/out/time$i" \
			"$@" $(ls "$dir"/* | awk -v p="$PAR" -v i="$i" 'NR % p == i') >"$W/out/lane$i.json" 2>/dev/null &
		pids+=($!)
	done
	wait "${pids[@]}"
	t1=$(now)
	# a lane that made nothing would look fast: every file must have come out (ready)
	if [ "$(ls "$W"/out/*-vt.jpg 2>/dev/null | wc -l)" -ne "$n" ] &&
		[ "$(cat "$W"/out/lane*.json | grep -c '"state":"ready"')" -ne "$n" ]; then
		echo "thumbs: $* did not make every file ready" >&2
		exit 1
	fi
	cpu=$(cat "$W"/out/time* | awk '{ s += $1 + $2 } END { print s }')
	awk -v n="$n" -v a="$t0" -v b="$t1" -v c="$cpu" 'BEGIN { printf "%.2f %.2f", n / (b - a), (c > 0 ? n / c : 0) }'
}

# sharp on the JPEGs as lanes() measures (PAR resizes in flight in one node process), or
# SKIPPED when the npm module is not installed (make deps)
sharp() {
	local t0 t1 cpu
	rm -rf "$W/out"
	mkdir -p "$W/out"
	node -e 'require("sharp")' 2>/dev/null || { echo SKIPPED; return; }
	t0=$(now)
	/usr/bin/time -f "%U %S" -o "$W/out/time" node -e '
const sharp = require("sharp"); const fs = require("fs"); const dir = process.argv[1], par = +process.argv[2];
const out = process.argv[3]; const files = fs.readdirSync(dir).map(f => dir + "/" + f); let i = 0;
async function lane() { while (i < files.length) { const f = files[i++];
  await sharp(f).resize(256, 256, { fit: "inside" }).jpeg().toFile(out + "/" + i + ".jpg"); } }
Promise.all(Array.from({ length: par }, lane));
' "$W/jpeg" "$PAR" "$W/out" 2>/dev/null || { echo FAILED; return; }
	t1=$(now)
	cpu=$(awk '{ print $1 + $2 }' "$W/out/time")
	awk -v n="$NJ" -v a="$t0" -v b="$t1" -v c="$cpu" 'BEGIN { printf "%.2f %.2f", n / (b - a), (c > 0 ? n / c : 0) }'
}

echo "thumbs: $NJ x 12 MP JPEG${ORIENTATION:+ (EXIF orientation $ORIENTATION)}, $NH x 3 MP HEIC, $PAR in parallel, $(nproc) cores, $RUNS runs" >&2
declare -A all
keep() { all[$1]="${all[$1]:-} $2"; }
# name, vipsthumbnail's "wall cpu" and this one's: one line part, and both ratios kept
compare() {
	local name=$1 vt=($2) it=($3)
	keep "wall_$name" "$(ratio "${it[0]}" "${vt[0]}")"
	keep "cpu_$name" "$(ratio "${it[1]}" "${vt[1]}")"
}
for ((r = 1; r <= RUNS; r++)); do
	for k in jpeg heic; do
		d=$W/$k
		vt=$(lanes "$d" vipsthumbnail -s 256 -o "$W/out/%s-vt.jpg")
		full=$(lanes "$d" "$RUN" "$W/out")
		same=$(lanes "$d" "$RUN" --thumb-only "$W/out")
		compare "full_$k" "$vt" "$full"
		compare "same_$k" "$vt" "$same"
		line="vipsthumbnail ${vt% *}/s  pipeline ${full% *}/s  thumb-only ${same% *}/s"
		if [ -n "$BASELINE" ]; then
			base=$(lanes "$d" "$BASELINE" "$W/out")
			compare "base_$k" "$vt" "$base"
			line="$line  baseline ${base% *}/s"
		fi
		if [ "$k" = jpeg ]; then
			sh=$(sharp)
			case $sh in
			SKIPPED | FAILED) line="$line  sharp $sh" ;;
			*) compare sharp "$vt" "$sh"; line="$line  sharp ${sh% *}/s" ;;
			esac
		fi
		echo "  run $r $k (files/s, wall clock): $line"
	done
done

spread() { echo "${all[$1]:-}" | tr ' ' '\n' | sort -n | awk 'NF { v[++n] = $1 }
	END { if (n == 0) { print "-"; exit } if (n == 1) { print v[1]; exit } printf "%s-%s  (runs:", v[1], v[n]; for (i = 1; i <= n; i++) printf " %s", v[i]; print ")" }'; }
table() {
	local m=$1
	cat <<OUT
  full pipeline (original + preview 1280 + thumb 256)  JPEG $(spread "${m}_full_jpeg")
                                                       HEIC $(spread "${m}_full_heic")
  same work (the thumb variant alone)                  JPEG $(spread "${m}_same_jpeg")
                                                       HEIC $(spread "${m}_same_heic")
OUT
	if [ -n "$BASELINE" ]; then
		cat <<OUT
  baseline full pipeline ($BASELINE)
                                                       JPEG $(spread "${m}_base_jpeg")
                                                       HEIC $(spread "${m}_base_heic")
OUT
	fi
	if [ -n "${all[${m}_sharp]:-}" ]; then
		echo "  sharp (resize 256 only)                              JPEG $(spread "${m}_sharp")"
	else
		echo "  sharp: SKIPPED (the npm module is not installed: make deps) or FAILED, see the runs"
	fi
}
echo
echo "ratios to vipsthumbnail in the same run (aim 0.9), by the wall clock (files/s):"
table wall
echo "by CPU time (files per CPU-second; less disturbed by other work on the machine):"
table cpu
