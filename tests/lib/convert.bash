# Helpers for the gb-convert tests (loaded after test_helper).
#
# A fixture is tests/fixtures/convert/<mode>/<case>.in, fed to
# "gb-convert <mode>" with the options in <case>.args, the configuration
# in <case>.env (copied to ./.env), and checked against <case>.out (exact
# stdout bytes), <case>.meta (the -I side channel, exact), <case>.err
# (exact stderr) and <case>.status (exit status, default 0). A case that
# fails must leave stdout empty.

CONVERT_FIXTURES=$FIXTURES/convert

# Random parts of chat-response made comparable: the completion id, the
# creation time and the random half of tool-call ids (a signature after
# "~" is kept). Each is checked for its shape before being replaced.
CONVERT_NORM='
  (if (.id|type) == "string" and (.id|test("^chatcmpl-[0-9a-f]{24}$"))
   then .id = "chatcmpl-ID" else . end)
  | (if (.created|type) == "number" and .created > 1700000000
     then .created = 0 else . end)
  | (.choices[]?.message.tool_calls[]?.id |=
     sub("^call_[0-9a-f]{16}(?<s>(~.*)?)$"; "call_ID\(.s)"))'

# The same for anthropic-response: the message and tool_use ids.
ANTHROPIC_NORM='
  (.id |= sub("^msg_[0-9a-f]{24}$"; "msg_ID"))
  | ((.content[]? | select(.type == "tool_use") | .id) |=
     sub("^toolu_[0-9a-f]{24}$"; "toolu_ID"))'

# The same for responses-response: the response, item and call ids and
# the creation time.
RESPONSES_NORM='
  (if (.id|type) == "string" and (.id|test("^resp_[0-9a-f]{32}$"))
   then .id = "resp_ID" else . end)
  | (if (.created_at|type) == "number" and .created_at > 1700000000
     then .created_at = 0 else . end)
  | (.output[]?.id |= sub("^(?<p>msg|rs|fc)_[0-9a-f]{32}$"; "\(.p)_ID"))
  | ((.output[]? | select(.call_id != null) | .call_id) |=
     sub("^call_[0-9a-f]{16}(?<s>(~.*)?)$"; "call_ID\(.s)"))'

# convert_norm_file MODE FILE: a whole answer's random parts made
# comparable, in place (the modes whose answers have ids and times).
convert_norm_file() {
	local f
	case $1 in
	chat-response)		f=$CONVERT_NORM ;;
	responses-response)	f=$RESPONSES_NORM ;;
	anthropic-response)	f=$ANTHROPIC_NORM ;;
	*)			return 0 ;;
	esac
	[ -s "$2" ] || return 0
	jq -c "$f" < "$2" > "$2.norm" && mv "$2.norm" "$2"
}

# convert_fixture MODE CASE: run one case into ./out, ./err, ./meta and
# set CONVERT_RC.
convert_fixture() {
	local mode=$1 name=$2 dir=$CONVERT_FIXTURES/$1 args=()
	if [ -f "$dir/$name.args" ]; then
		read -ra args < "$dir/$name.args"
	fi
	rm -f .env
	if [ -f "$dir/$name.env" ]; then
		cp "$dir/$name.env" .env
	fi
	if [ -f "$dir/$name.meta" ]; then
		args+=(-I 4)
	fi
	CONVERT_RC=0
	gb-convert "$mode" "${args[@]}" < "$dir/$name.in" > out 2> err \
	    4> meta || CONVERT_RC=$?
	convert_norm_file "$mode" out
}

# check_convert_fixture MODE CASE: the assertions for one case.
check_convert_fixture() {
	local mode=$1 name=$2 dir=$CONVERT_FIXTURES/$1 want=0
	convert_fixture "$mode" "$name"
	if [ -f "$dir/$name.status" ]; then
		want=$(cat "$dir/$name.status")
	fi
	if [ "$CONVERT_RC" != "$want" ]; then
		echo "$mode/$name: exit status $CONVERT_RC, want $want"
		cat err
		return 1
	fi
	if [ -f "$dir/$name.out" ]; then
		diff -u "$dir/$name.out" out
	else
		diff -u /dev/null out
	fi
	if [ -f "$dir/$name.err" ]; then
		diff -u "$dir/$name.err" err
	else
		diff -u /dev/null err
	fi
	if [ -f "$dir/$name.meta" ]; then
		diff -u "$dir/$name.meta" meta
	fi
}
