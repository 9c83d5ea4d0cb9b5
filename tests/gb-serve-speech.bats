#!/usr/bin/env bats
# POST /v1/audio/speech through the official openai npm package
# (tests/clients/speech.mjs) and raw HTTP: the fake upstream speaks
# tests/fixtures/media/tone.pcm for any model whose name holds "tts",
# and each answer is checked as a decoder would (tests/lib/audiocheck.py
# and file(1)): a WAVE file, the PCM itself, MP3 frames. Skipped only
# when npm or the registry is missing, never under CI.

bats_require_minimum_version 1.5.0
load test_helper
load lib/upstream
load lib/serve
load lib/npm

setup_file() {
	load test_helper
	load lib/upstream
	load lib/serve
	load lib/npm
	# bats 1.8 cannot skip from setup_file: need_npm skips each test
	clients_setup_file openai@6
}

teardown_file() {
	clients_teardown_file
}

setup() {
	clients_setup
}

TONE=$FIXTURES/media/tone.pcm

speech() {
	node "$CLIENTS/speech.mjs" "$@"
}

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

# post PATH BODY [TOKEN]: the answer's headers and body into ./h and
# ./b; prints the status
post() {
	curl -sS -m 20 -o b -D h -w '%{http_code}' \
	    -H 'Content-Type: application/json' \
	    -H "Authorization: Bearer ${3:-tok-user}" --data-binary "$2" \
	    "$GB_URL$1"
}

# voice_seen N: the voice upstream request N asked for
voice_seen() {
	upstream_request "$1" '.body | fromjson |
	    .generationConfig.speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName'
}

WAV_FIELDS="wav format=1 channels=1 rate=24000 bits=16 byterate=48000 align=2 data=9600"

@test "speech: wav for a Gemini voice and an OpenAI voice" {
	need_npm
	run -0 speech create '{"model":"gemini-2.5-pro-preview-tts","voice":"Kore","input":"Hello there.","response_format":"wav"}' kore.wav
	assert_output '["audio/wav",9644]'
	run -0 audiocheck wav kore.wav
	assert_output "$WAV_FIELDS"
	cmp "$TONE" <(tail -c +45 kore.wav)
	run -0 file -b kore.wav
	assert_output "RIFF (little-endian) data, WAVE audio, Microsoft PCM, 16 bit, mono 24000 Hz"
	run -0 upstream_request 1 .path
	assert_output /v1beta/models/gemini-2.5-pro-preview-tts:generateContent
	run -0 voice_seen 1
	assert_output Kore
	run -0 upstream_request 1 '.body | fromjson | [.contents[0].parts[0].text, .generationConfig.responseModalities[0]] | @json'
	assert_output '["Hello there.","AUDIO"]'

	run -0 speech create '{"model":"tts-1","voice":"alloy","input":"Hello there.","response_format":"wav"}' alloy.wav
	assert_output '["audio/wav",9644]'
	run -0 audiocheck wav alloy.wav
	assert_output "$WAV_FIELDS"
	# tts-1 is TTS_MODEL, alloy is Schedar (gb-convert(1), Speech)
	run -0 upstream_request 2 .path
	assert_output /v1beta/models/gemini-2.5-flash-preview-tts:generateContent
	run -0 voice_seen 2
	assert_output Schedar
	grep -q 'POST /v1/audio/speech 200 .* model=tts-1 ' "$SERVE_LOG"
}

@test "speech: pcm is exactly the upstream's bytes, for a Gemini and an OpenAI voice" {
	need_npm
	run -0 speech create '{"model":"gemini-2.5-flash-preview-tts","voice":"puck","input":"Hi","response_format":"pcm"}' puck.pcm
	assert_output '["audio/pcm",9600]'
	cmp "$TONE" puck.pcm
	run -0 speech create '{"model":"gpt-4o-mini-tts","voice":"echo","input":"Hi","response_format":"pcm"}' echo.pcm
	assert_output '["audio/pcm",9600]'
	cmp "$TONE" echo.pcm
	run -0 voice_seen 1
	assert_output Puck
	run -0 voice_seen 2
	assert_output Charon
}

@test "speech: mp3 (OpenAI's default) decodes as MPEG-2 layer III, 24 kHz mono" {
	need_npm
	run -0 speech create '{"model":"tts-1-hd","voice":"Zephyr","input":"Hi","response_format":"mp3"}' zephyr.mp3
	assert_output --regexp '^\["audio/mpeg",[0-9]+\]$'
	mp3_ok zephyr.mp3
	run -0 file -b zephyr.mp3
	assert_output --regexp '^MPEG ADTS, layer III, v2, +64 kbps, 24 kHz, Monaural$'
	# no response_format: mp3, as OpenAI answers
	run -0 speech create '{"model":"tts-1","voice":"nova","input":"Hi"}' nova.mp3
	assert_output --regexp '^\["audio/mpeg",[0-9]+\]$'
	mp3_ok nova.mp3
	run -0 voice_seen 2
	assert_output Autonoe
}

@test "speech: instructions and speed go before the text; no voice is TTS_VOICE" {
	need_npm
	run -0 speech create '{"model":"tts-1","input":"Welcome home.","instructions":"Speak in a warm voice.","speed":0.5,"response_format":"pcm"}' x.pcm
	run -0 upstream_request 1 '.body | fromjson | .contents[0].parts[0].text'
	assert_output "Speak in a warm voice, very slowly: Welcome home."
	run -0 voice_seen 1
	assert_output Zephyr
}

@test "speech: the client's mistakes are 400s naming the field" {
	need_npm
	run -0 speech error '{"model":"tts-1","voice":"alloy","input":"Hi","response_format":"opus"}'
	assert_output '[400,"BadRequestError","response_format: \"opus\" is not supported; the supported formats are mp3, wav and pcm",null]'
	run -0 speech error '{"model":"tts-1","voice":"alloy"}'
	assert_output '[400,"BadRequestError","input: missing",null]'
	run -0 speech error "{\"model\":\"tts-1\",\"voice\":\"alloy\",\"input\":\"$(printf 'a%.0s' $(seq 4097))\"}"
	assert_output '[400,"BadRequestError","input: 4097 characters, more than 4096",null]'
	run -0 speech error '{"model":"tts-1","voice":"robot","input":"Hi"}'
	assert_output --partial '[400,"BadRequestError","voice: unknown voice \"robot\" ('
	run -0 speech error '{"model":"tts-1","voice":"alloy","input":"Hi","speed":5}'
	assert_output '[400,"BadRequestError","speed: expected a number from 0.25 to 4.0",null]'
	run -0 speech error '{"model":"tts-1","voice":"alloy","input":"Hi","stream_format":"sse"}'
	assert_output --partial '[400,"BadRequestError","stream_format: \"sse\" is not supported;'
	# none of them reached the upstream
	[ "$(upstream_count)" = 0 ]
}

@test "speech: upstream errors keep their status, in OpenAI's shape" {
	need_npm
	upstream_script '{"path":"tts:generateContent","status":400,"message":"Voice is not available in this region."}'
	run -0 speech error '{"model":"tts-1","voice":"alloy","input":"Hi"}'
	assert_output '[400,"BadRequestError","Voice is not available in this region.",null]'
	upstream_reset
	upstream_script '{"path":"tts:generateContent","status":429,"repeat":true,"retry_delay":"7s"}'
	run -0 speech error '{"model":"tts-1","voice":"alloy","input":"Hi"}'
	assert_output --regexp '^\[429,"RateLimitError","[^"]+","[0-9]+"\]$'
	# every key was tried
	[ "$(upstream_count)" = 2 ]
}

@test "speech: an answer without audio is a 502 that says so" {
	run -0 post /v1/audio/speech '{"model":"gemini-2.5-flash","voice":"Kore","input":"Hi"}'
	assert_output 502
	run -0 jq -r .error.message b
	assert_output "upstream answer is text, not audio (is gemini-2.5-flash a TTS model?)"
	upstream_script '{"path":"tts:generateContent","body":{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"}}}'
	run -0 post /v1/audio/speech '{"model":"tts-1","input":"Hi"}'
	assert_output 502
	run -0 jq -r .error.message b
	assert_output "upstream answer has no audio: the input was blocked (PROHIBITED_CONTENT)"
}

@test "speech: also without /v1 and under /hf/v1, bearer auth like chat" {
	run -0 post /audio/speech '{"input":"Hi","response_format":"pcm"}'
	assert_output 200
	cmp "$TONE" b
	grep -qi '^Content-Type: audio/pcm' h
	run -0 post /hf/v1/audio/speech '{"input":"Hi","response_format":"wav"}'
	assert_output 200
	grep -qi '^Content-Type: audio/wav' h
	run -0 post /v1/audio/speech '{"input":"Hi"}' wrong-token
	assert_output 401
	run -0 jq -r .error.message b
	assert_output "Invalid token"
	run -0 curl -sS -o /dev/null -w '%{http_code}' "$GB_URL/v1/audio/speech"
	assert_output 405
}

@test "speech: Accept=yes (the tools as processes) makes the same files" {
	local port=$SERVE_PORT pid=$SERVE_PID
	SERVE_LOG=$BATS_TEST_TMPDIR/accept.log start_serve accept
	GB_URL=http://127.0.0.1:$SERVE_PORT
	run -0 post /v1/audio/speech '{"input":"Hi","voice":"alloy","response_format":"wav"}'
	assert_output 200
	audiocheck wav b > wav.txt
	run -0 post /v1/audio/speech '{"input":"Hi","response_format":"pcm"}'
	assert_output 200
	cmp "$TONE" b
	run -0 post /v1/audio/speech '{"input":"Hi"}'
	assert_output 200
	cp b out.mp3
	stop_pid "$SERVE_PID"
	SERVE_PORT=$port SERVE_PID=$pid GB_URL=http://127.0.0.1:$port
	run -0 cat wav.txt
	assert_output "$WAV_FIELDS"
	mp3_ok out.mp3
}
