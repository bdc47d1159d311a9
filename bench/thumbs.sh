#!/usr/bin/env bash
# thumbs: thumbnails per second through the media pipeline (services/media_pipeline.c, as
# atrium-media runs it: forked child, limits, libmagic, preview + thumb + re-encoded original,
# no scan) against vipsthumbnail -s 256 on the same files with the same parallelism, in the same
# run; sharp (npm) on the JPEGs for comparison (it cannot decode HEIC here). Prints files/s and
# the ratios (aim 0.9). Needs build/tests/media_run (make units).
#   THUMBS_JPEGS (16), THUMBS_HEICS (8), THUMBS_PAR (2)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
NJ=${THUMBS_JPEGS:-16}
NH=${THUMBS_HEICS:-8}
PAR=${THUMBS_PAR:-2}
RUN=$ROOT/build/tests/media_run
[ -x "$RUN" ] || make --no-print-directory build/tests/media_run >/dev/null
W=$(mktemp -d /tmp/atrium-thumbs.XXXXXX)
trap 'rm -rf "$W"' EXIT

# Inputs: 12 MP JPEGs (blurred colour noise, quality 85) and HEICs; copies of one encode
# each (heifsave of 12 MP takes seconds: the HEIC is 2000x1500).
mkdir -p "$W/jpeg" "$W/heic" "$W/out"
for b in 1 2 3; do vips gaussnoise "$W/n$b.v" 4000 3000 --sigma 30 --mean 128; done
vips bandjoin "$W/n1.v $W/n2.v $W/n3.v" "$W/rgb.v"
vips cast "$W/rgb.v" "$W/u.v" uchar
vips copy "$W/u.v" "$W/c.v" --interpretation srgb
vips gaussblur "$W/c.v" "$W/b.v" 0.7      # photo-like: about 3 MB at quality 85
vips cast "$W/b.v" "$W/bu.v" uchar
vips jpegsave "$W/bu.v" "$W/src.jpg" --Q 85
vips thumbnail "$W/src.jpg" "$W/mid.v" 2000
vips heifsave "$W/mid.v" "$W/src.heic" --Q 50 2>/dev/null
for i in $(seq 1 "$NJ"); do cp "$W/src.jpg" "$W/jpeg/$i.jpg"; done
for i in $(seq 1 "$NH"); do cp "$W/src.heic" "$W/heic/$i.heic"; done

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", n / (b - a) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# PAR lanes, each one long-lived process given its share of the files (as a worker process takes
# job after job; vipsthumbnail also takes many files); prints files/s over the whole batch.
lanes() {
	local dir=$1 t0 t1 n i pids=()
	shift
	n=$(ls "$dir" | wc -l)
	t0=$(now)
	for ((i = 0; i < PAR; i++)); do
		"$@" $(ls "$dir"/* | awk -v p="$PAR" -v i="$i" 'NR % p == i') >/dev/null 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}"
	t1=$(now)
	rate "$n" "$t0" "$t1"
}

echo "thumbs: $NJ x 12 MP JPEG, $NH x 3 MP HEIC, $PAR in parallel, $(nproc) cores" >&2
vips_j=$(lanes "$W/jpeg" vipsthumbnail -s 256 -o "$W/out/%s-vt.jpg")
ours_j=$(lanes "$W/jpeg" "$RUN" "$W/out")
vips_h=$(lanes "$W/heic" vipsthumbnail -s 256 -o "$W/out/%s-vt.jpg")
ours_h=$(lanes "$W/heic" "$RUN" "$W/out")
ready=$(cat "$W"/out/*/original.jpg 2>/dev/null | wc -c)
[ "$ready" -gt 0 ] || { echo "thumbs: the pipeline produced nothing" >&2; exit 1; }
sharp_j=$(node -e '
const sharp = require("sharp"); const fs = require("fs"); const dir = process.argv[1], par = +process.argv[2];
const files = fs.readdirSync(dir).map(f => dir + "/" + f); let i = 0; const t0 = process.hrtime.bigint();
async function lane() { while (i < files.length) { const f = files[i++];
  await sharp(f).resize(256, 256, { fit: "inside" }).jpeg().toFile(f + ".sharp.jpg"); } }
Promise.all(Array.from({ length: par }, lane)).then(() => {
  const s = Number(process.hrtime.bigint() - t0) / 1e9; console.log((files.length / s).toFixed(2)); });
' "$W/jpeg" "$PAR" 2>/dev/null || echo 0)

cat <<OUT
  vipsthumbnail  JPEG $vips_j/s   HEIC $vips_h/s
  pipeline       JPEG $ours_j/s   HEIC $ours_h/s   (a child per file: preview 1280 + thumb 256 + full-size re-encode)
  sharp          JPEG $sharp_j/s  (resize 256 only)

ratio pipeline/vipsthumbnail JPEG  $(ratio "$ours_j" "$vips_j")   (aim 0.9)
ratio pipeline/vipsthumbnail HEIC  $(ratio "$ours_h" "$vips_h")   (aim 0.9)
ratio sharp/vipsthumbnail JPEG     $(ratio "$sharp_j" "$vips_j")
OUT
