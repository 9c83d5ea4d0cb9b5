#!/bin/sh
# tests/valgrind.sh BINDIR TESTS...: run bats files with every tool
# wrapped in valgrind (full leak check). A memory error or leak makes
# the tool exit 99 and print to stderr, which every test that checks
# exit status or stderr reports.
set -eu
bindir=$1
shift
shims=$(mktemp -d)
trap 'rm -rf "$shims"' EXIT
for t in "$bindir"/gb-*; do
	cat > "$shims/${t##*/}" <<SHIM
#!/bin/sh
exec valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
	--errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
	--trace-children=no "$t" "\$@"
SHIM
	chmod +x "$shims/${t##*/}"
done
# valgrind is slow and single-threaded: with GNU parallel, the files run
# side by side, one per CPU (the tests of one file stay in order)
jobs=
n=$(nproc 2>/dev/null || echo 1)
if command -v parallel >/dev/null 2>&1 && [ "$n" -gt 1 ]; then
	jobs="--jobs $n --no-parallelize-within-files"
fi
# shellcheck disable=SC2086
GB_BIN=$shims GB_VALGRIND=1 bash "$(dirname "$0")/bats.sh" $jobs "$@"
