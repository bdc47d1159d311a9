#!/usr/bin/env bash
# lint: the mechanical rules of STYLE.md over our C: no banned calls, no function over 80 lines
# (measured with universal-ctags), and shell scripts that parse. Exits non-zero on any finding.
set -uo pipefail
cd "$(dirname "$0")/.."

MAX_LINES=80
rc=0
src=$(git ls-files --cached --others --exclude-standard -- '*.c' '*.h' | grep -v -E '^(tests/fuzz/corpus|vendor)/')

# Banned: unbounded or unchecked forms (STYLE.md). Comment lines are not code.
banned=$(grep -Hn -E '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|strtok)[[:space:]]*\(' $src 2>/dev/null |
	grep -v -E '^[^:]+:[0-9]+:[[:space:]]*(//|\*|/\*)')
if [ -n "$banned" ]; then
	echo "lint: banned calls (use snprintf, the buf_ helpers, or strtol with end and range checks):"
	echo "$banned"
	rc=1
fi

# strtol/strtoul/strtoll must be followed by an end-pointer check: flag calls whose end argument is NULL.
unchecked=$(grep -Hn -E '\bstrto(l|ul|ll|ull|d)[[:space:]]*\([^,]*,[[:space:]]*(NULL|0)[[:space:]]*,' $src 2>/dev/null)
if [ -n "$unchecked" ]; then
	echo "lint: strtol-family calls without an end pointer:"
	echo "$unchecked"
	rc=1
fi

long=$(ctags --output-format=u-ctags --c-kinds=f --fields=+ne -o - $src 2>/dev/null |
	awk -F'\t' -v max="$MAX_LINES" '{
		s = ""; e = ""
		for (i = 1; i <= NF; i++) {
			if ($i ~ /^line:/) s = substr($i, 6)
			if ($i ~ /^end:/) e = substr($i, 5)
		}
		if (s != "" && e != "" && e - s + 1 > max) printf "  %s %s:%s (%d lines)\n", $1, $2, s, e - s + 1
	}')
if [ -n "$long" ]; then
	echo "lint: functions over $MAX_LINES lines (split them along their steps):"
	echo "$long"
	rc=1
fi

for f in scripts/*.sh bench/*.sh .ci/run; do
	[ -f "$f" ] || continue
	bash -n "$f" || { echo "lint: $f does not parse"; rc=1; }
done

[ "$rc" -eq 0 ] && echo "lint: clean ($(echo "$src" | wc -w) C files)"
exit "$rc"
