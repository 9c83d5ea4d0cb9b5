#!/usr/bin/env bats
# gb-convert speech-request and speech-response: OpenAI's
# /v1/audio/speech request to a Gemini TTS call, and the model's PCM to
# the file the client asked for. Request cases are golden fixtures under
# tests/fixtures/speech/speech-request (the roles of tests/lib/
# convert.bash); the answers are checked against the PCM the fake model
# spoke (tests/fixtures/media/tone.pcm), field by field for WAVE and
# frame by frame for MP3 (tests/lib/audiocheck.py).

bats_require_minimum_version 1.5.0

load test_helper
load lib/convert

CONVERT_FIXTURES=$FIXTURES/speech
TONE=$FIXTURES/media/tone.pcm
ANSWER=$FIXTURES/speech/speech-response/tone.in

audiocheck() {
	python3 "$BATS_TEST_DIRNAME/lib/audiocheck.py" "$@"
}

# mp3_ok FILE: MPEG-2 layer III frames, 64 kbit/s, 24 kHz mono, holding
# at least the 4800 samples of the tone (LAME adds its delay and pads
# the last frame, so the count depends on its version)
mp3_ok() {
	local out
	out=$(audiocheck mp3 "$1") || return 1
	[[ $out =~ ^"mp3 MPEG-2 layer III 64 kbit/s 24000 Hz mono frames="[0-9]+" samples="([0-9]+)$ ]] ||
	    { echo "$1: $out"; return 1; }
	(( BASH_REMATCH[1] >= 4800 )) || { echo "$1: $out"; return 1; }
}

# answer MIME PART_B64...: a GenerateContentResponse, one inlineData
# part per base64 argument
answer() {
	local mime=$1
	shift
	jq -nc --arg m "$mime" '{candidates:[{content:{role:"model",
	    parts:[$ARGS.positional[]|{inlineData:{mimeType:$m,data:.}}]},
	    finishReason:"STOP"}]}' --args "$@"
}

# ---- speech-request ----

@test "every speech fixture has an expected output or error" {
	local f c n=0 missing=
	for f in "$CONVERT_FIXTURES"/speech-request/*.in; do
		c=${f%.in}
		n=$((n + 1))
		[ -f "$c.out" ] || [ -f "$c.err" ] || missing+=" $c"
	done
	[ -z "$missing" ] || { echo "no .out/.err:$missing"; return 1; }
	[ "$n" -ge 20 ]
}

@test "speech-request fixtures: the Gemini body, the -I line, the errors" {
	local f c failed=
	for f in "$CONVERT_FIXTURES"/speech-request/*.in; do
		c=$(basename "$f" .in)
		check_convert_fixture speech-request "$c" || failed+=" $c"
	done
	[ -z "$failed" ] || { echo "failed:$failed"; return 1; }
}

@test "speech-request: OpenAI's voices map to the documented Gemini voices" {
	local pair v want
	for pair in alloy:Schedar ash:Iapetus ballad:Algieba cedar:Gacrux \
	    coral:Achird echo:Charon fable:Puck marin:Sulafat nova:Autonoe \
	    onyx:Orus sage:Sadaltager shimmer:Achernar verse:Sadachbia; do
		v=${pair%:*} want=${pair#*:}
		run -0 --separate-stderr gb-convert speech-request <<< \
		    "{\"input\":\"x\",\"voice\":\"$v\"}"
		run -0 jq -r '.generationConfig.speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName' <<< "$output"
		[ "$output" = "$want" ] || { echo "$v -> $output, want $want"; return 1; }
	done
}

@test "speech-request: all 30 Gemini voices pass, in any case" {
	local v n=0
	for v in Zephyr Puck Charon Kore Fenrir Leda Orus Aoede Callirrhoe \
	    Autonoe Enceladus Iapetus Umbriel Algieba Despina Erinome Algenib \
	    Rasalgethi Laomedeia Achernar Alnilam Schedar Gacrux Pulcherrima \
	    Achird Zubenelgenubi Vindemiatrix Sadachbia Sadaltager Sulafat; do
		n=$((n + 1))
		run -0 --separate-stderr gb-convert speech-request <<< \
		    "{\"input\":\"x\",\"voice\":\"${v,,}\"}"
		run -0 jq -r '.generationConfig.speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName' <<< "$output"
		[ "$output" = "$v" ] || { echo "${v,,} -> $output"; return 1; }
	done
	[ "$n" -eq 30 ]
}

@test "speech-request: input and instructions are capped at 4096 characters" {
	local s
	# 4096 two-byte characters are 4096 characters, not 8192
	s=$(printf 'é%.0s' $(seq 4096))
	run -0 --separate-stderr gb-convert speech-request <<< "{\"input\":\"$s\"}"
	run -0 jq -r '.contents[0].parts[0].text | length' <<< "$output"
	[ "$output" = 4096 ]
	run -100 --separate-stderr gb-convert speech-request <<< "{\"input\":\"${s}x\"}"
	[ "$stderr" = "gb-convert: input: 4097 characters, more than 4096" ]
	[ -z "$output" ]
	run -100 --separate-stderr gb-convert speech-request <<< \
	    "{\"input\":\"x\",\"instructions\":\"${s}x\"}"
	[ "$stderr" = "gb-convert: instructions: 4097 characters, more than 4096" ]
}

@test "speech-request: a bad TTS_VOICE or TTS_MODEL is named at start" {
	TTS_VOICE=robot run -100 --separate-stderr gb-convert speech-request <<< '{"input":"x"}'
	[ "$stderr" = 'gb-convert: TTS_VOICE: "robot" is neither a Gemini voice nor an OpenAI one' ]
	TTS_MODEL='a b' run -100 --separate-stderr gb-convert speech-request <<< '{"input":"x"}'
	[ "$stderr" = 'gb-convert: TTS_MODEL: "a b" is not a model name' ]
	TTS_VOICE=ONYX run -0 --separate-stderr gb-convert speech-request <<< '{"input":"x"}'
	[[ $output == *'"voiceName":"Orus"'* ]]
}

# ---- speech-response ----

@test "speech-response -f pcm: exactly the upstream's samples" {
	gb-convert speech-response -f pcm < "$ANSWER" > out.pcm
	cmp "$TONE" out.pcm
}

@test "speech-response -f wav: a RIFF WAVE header around the samples" {
	gb-convert speech-response -f wav -m m < "$ANSWER" > out.wav
	run -0 audiocheck wav out.wav
	assert_output "wav format=1 channels=1 rate=24000 bits=16 byterate=48000 align=2 data=9600"
	[ "$(stat -c %s out.wav)" -eq 9644 ]
	cmp "$TONE" <(tail -c +45 out.wav)
	run -0 file -b out.wav
	assert_output "RIFF (little-endian) data, WAVE audio, Microsoft PCM, 16 bit, mono 24000 Hz"
}

@test "speech-response -f mp3 (and by default): MPEG-2 layer III frames, 24 kHz mono" {
	gb-convert speech-response -f mp3 < "$ANSWER" > out.mp3
	mp3_ok out.mp3
	run -0 file -b out.mp3
	assert_output --regexp '^MPEG ADTS, layer III, v2, +64 kbps, 24 kHz, Monaural$'
	gb-convert speech-response < "$ANSWER" > default.mp3
	cmp out.mp3 default.mp3
}

@test "speech-response: parts are joined, and the rate comes from the MIME type" {
	local b1 b2
	b1=$(head -c 4800 "$TONE" | base64 -w0)
	b2=$(tail -c +4801 "$TONE" | base64 -w0)
	answer 'audio/L16;codec=pcm;rate=24000' "$b1" "$b2" |
	    gb-convert speech-response -f pcm > out.pcm
	cmp "$TONE" out.pcm
	answer 'audio/L16;codec=pcm;rate=16000' "$(base64 -w0 < "$TONE")" |
	    gb-convert speech-response -f wav > out.wav
	run -0 audiocheck wav out.wav
	assert_output "wav format=1 channels=1 rate=16000 bits=16 byterate=32000 align=2 data=9600"
	answer 'audio/pcm; rate=16000' "$(base64 -w0 < "$TONE")" |
	    gb-convert speech-response -f mp3 > out.mp3
	run -0 audiocheck mp3 out.mp3
	[[ $output == "mp3 MPEG-2 layer III 64 kbit/s 16000 Hz mono "* ]]
	# two channels, interleaved
	answer 'audio/L16;codec=pcm;rate=24000;channels=2' "$(base64 -w0 < "$TONE")" |
	    gb-convert speech-response -f wav > out.wav
	run -0 audiocheck wav out.wav
	assert_output "wav format=1 channels=2 rate=24000 bits=16 byterate=96000 align=4 data=9600"
	answer 'audio/L16;codec=pcm;rate=24000;channels=2' "$(base64 -w0 < "$TONE")" |
	    gb-convert speech-response -f mp3 > out.mp3
	run -0 audiocheck mp3 out.mp3
	[[ $output == "mp3 MPEG-2 layer III 64 kbit/s 24000 Hz stereo "* ]]
	# no rate said: Gemini's 24 kHz
	answer 'audio/L16' "$(base64 -w0 < "$TONE")" |
	    gb-convert speech-response -f wav > out.wav
	run -0 audiocheck wav out.wav
	[[ $output == *" rate=24000 "* ]]
}

@test "speech-response: an answer without audio says why, exit 1" {
	run -1 --separate-stderr gb-convert speech-response -m gemini-2.5-flash <<< \
	    '{"candidates":[{"content":{"parts":[{"text":"Hello"}]},"finishReason":"STOP"}]}'
	[ "$stderr" = "gb-convert: upstream answer is text, not audio (is gemini-2.5-flash a TTS model?)" ]
	[ -z "$output" ]
	run -1 --separate-stderr gb-convert speech-response <<< \
	    '{"promptFeedback":{"blockReason":"SAFETY"}}'
	[ "$stderr" = "gb-convert: upstream answer has no audio: the input was blocked (SAFETY)" ]
	run -1 --separate-stderr gb-convert speech-response <<< \
	    '{"candidates":[{"finishReason":"OTHER"}]}'
	[ "$stderr" = "gb-convert: upstream answer has no audio (finishReason OTHER)" ]
	run -1 --separate-stderr gb-convert speech-response <<< '{}'
	[ "$stderr" = "gb-convert: upstream answer has no audio" ]
}

@test "speech-response: audio it cannot use is an error, and nothing is written" {
	run -1 --separate-stderr gb-convert speech-response -f pcm < <(answer audio/mpeg AAAA)
	[ "$stderr" = "gb-convert: upstream audio is audio/mpeg, not 16-bit PCM" ]
	[ -z "$output" ]
	run -1 --separate-stderr gb-convert speech-response -f pcm < <(answer 'audio/L16;rate=x' AAAA)
	[ "$stderr" = "gb-convert: upstream audio: rate invalid (audio/L16;rate=x)" ]
	run -1 --separate-stderr gb-convert speech-response -f wav < <(answer 'audio/L16;rate=24000' 'AA*A')
	[ "$stderr" = "gb-convert: upstream audio: invalid base64" ]
	[ -z "$output" ]
	# three bytes are not whole 16-bit samples
	run -1 --separate-stderr gb-convert speech-response -f wav < <(answer 'audio/L16;rate=24000' AAAA)
	[ "$stderr" = "gb-convert: upstream audio: 3 bytes are not whole 16-bit samples" ]
	[ -z "$output" ]
	run -1 --separate-stderr gb-convert speech-response -f mp3 < <(answer 'audio/L16;rate=24000' AAAA)
	[ "$stderr" = "gb-convert: upstream audio: 3 bytes are not whole 16-bit samples" ]
	run -1 --separate-stderr gb-convert speech-response -f mp3 < <(answer 'audio/L16;rate=24000' '')
	[ "$stderr" = "gb-convert: upstream audio is empty" ]
	run -100 --separate-stderr gb-convert speech-response <<< 'not json'
	[[ $stderr == "gb-convert: stdin: invalid JSON"* ]]
}

@test "speech-response: a bad -f is a usage error; a full disk exits 111" {
	run -100 --separate-stderr gb-convert speech-response -f ogg < "$ANSWER"
	[ "${stderr_lines[0]}" = "usage: gb-convert chat-request [-I fd]" ]
	[ -z "$output" ]
	run -100 --separate-stderr gb-convert speech-request -f wav < /dev/null
	run -111 --separate-stderr bash -c 'gb-convert speech-response -f wav > /dev/full' < "$ANSWER"
	[[ $stderr == "gb-convert: stdout: "* ]]
}
