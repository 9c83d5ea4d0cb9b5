#!/bin/bash
# convert-bless.sh [MODE/CASE...]: (re)write the expected files of
# gb-convert fixtures from the current build. Review the diff before
# committing: the fixtures are the specification, not the program.
set -e
cd "$(dirname "$0")/.."
FIXTURES=$PWD/fixtures
PATH=$PWD/../build/bin:$PATH
. lib/convert.bash
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
	for f in "$CONVERT_FIXTURES"/*/*.in; do
		c=${f%.in}
		cases+=("${c#"$CONVERT_FIXTURES"/}")
	done
fi
for c in "${cases[@]}"; do
	mode=${c%%/*} name=${c#*/} dir=$CONVERT_FIXTURES/${c%%/*}
	(cd "$tmp" && unset MODEL_SEARCH SHOW_THINKING_PROCESS \
	    SHOW_SEARCH_LINK TOOLS_CODE_EXECUTION_ENABLED MAX_BODY &&
	    convert_fixture "$mode" "$name" &&
	    rm -f "$dir/$name.out" "$dir/$name.err" "$dir/$name.status" &&
	    { [ ! -s out ] || cp out "$dir/$name.out"; } &&
	    { [ ! -s err ] || cp err "$dir/$name.err"; } &&
	    { [ "$CONVERT_RC" = 0 ] || echo "$CONVERT_RC" > "$dir/$name.status"; } &&
	    { [ ! -f "$dir/$name.meta" ] || cp meta "$dir/$name.meta"; })
done
