#!/usr/bin/env bats
# Images in chat answers (issue 16), through gb-serve and the official
# openai npm package (tests/clients/chatimg.mjs): the fake upstream draws
# tests/fixtures/media/pixel.png for a model whose name holds "image",
# between two texts; the client must get that PNG byte for byte, as a
# markdown data URL in content and in the message's images array,
# streamed (the image a delta of its own) and not, with the text around
# it in order. The request side: IMAGE_MODELS and modalities ask the
# upstream for responseModalities TEXT and IMAGE. The native route
# passes the image on untouched; the Responses and Messages routes carry
# it as markdown in their text.

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
	# bats 1.8 cannot skip from setup_file: need_npm skips the client tests
	clients_setup_file openai@6
}

teardown_file() {
	clients_teardown_file
}

setup() {
	clients_setup
	export PIXEL=$FIXTURES/media/pixel.png
}

chatimg() {
	node "$CLIENTS/chatimg.mjs" "$@"
}

# post PATH BODY [HEADER]: a raw POST with the client token; prints the
# body, then the status on a line of its own.
post() {
	curl -sS -m 20 -w '\n%{http_code}' -H 'Content-Type: application/json' \
	    -H "${3:-Authorization: Bearer tok-user}" --data-binary "$2" \
	    "$GB_URL$1"
}

# What the client makes of the fake's answer: the texts around the image,
# the image as [IMG:<mime>:<bytes equal to pixel.png>].
AROUND='Here is a pixel for: a red dot\n\n[IMG:image/png:true]\n\nThat was the pixel.'

@test "chat: the upstream image byte for byte, in content and images, the text around it in order" {
	need_npm
	run -0 chatimg whole
	assert_output "[\"stop\",\"$AROUND\",[[\"image_url\",\"image/png\",true]]]"
	# an IMAGE_MODELS model: the upstream was asked for text and images
	run -0 upstream_request 1 '.path'
	assert_output /v1beta/models/gemini-2.5-flash-image:generateContent
	run -0 upstream_request 1 '.body | fromjson | .generationConfig.responseModalities | tojson'
	assert_output '["TEXT","IMAGE"]'
}

@test "chat stream: the image whole in a delta of its own, between the texts" {
	need_npm
	run -0 chatimg stream
	assert_line --index 0 '[["Here is a pixel for: a red dot",0],["\n\n[IMG:image/png:true]\n\n",1],["That was the pixel.",0]]'
	assert_line --index 1 "[\"$AROUND\",[[\"image/png\",true]]]"
	run -0 upstream_request 1 '.path'
	assert_output /v1beta/models/gemini-2.5-flash-image:streamGenerateContent
	run -0 upstream_request 1 '.body | fromjson | .generationConfig.responseModalities | tojson'
	assert_output '["TEXT","IMAGE"]'
}

@test "chat stream through the SDK's helper: the joined message carries the image" {
	need_npm
	run -0 chatimg helper
	assert_output "[\"stop\",\"$AROUND\"]"
}

@test "chat: modalities and image_config reach the upstream for any model" {
	need_npm
	MODEL=gemini-2.0-flash run -0 chatimg modalities
	# the fake draws only for image models: it echoes here
	assert_output '["stop","echo: a red dot"]'
	run -0 upstream_request 1 '.body | fromjson | .generationConfig | [.responseModalities, .imageConfig] | tojson'
	assert_output '[["TEXT","IMAGE"],{"aspectRatio":"16:9"}]'
}

@test "chat: a model outside IMAGE_MODELS without modalities asks for nothing more" {
	run -0 post /v1/chat/completions '{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}'
	assert_line --index 1 200
	run -0 upstream_request 1 '.body | fromjson | .generationConfig.responseModalities | tojson'
	assert_output null
}

@test "chat: a large image streamed whole in one delta, byte for byte" {
	need_npm
	# 300 KiB of image bytes in one upstream event, between texts
	head -c 307200 /dev/urandom > big.bin
	python3 -c '
import base64, json, sys
b64 = base64.b64encode(open("big.bin", "rb").read()).decode()
def ev(parts, fin=None):
    c = {"content": {"role": "model", "parts": parts}, "index": 0}
    if fin:
        c["finishReason"] = fin
    return {"candidates": [c]}
json.dump({"path": "streamGenerateContent", "events": [
    ev([{"text": "Big:"}, {"inlineData": {"mimeType": "image/png",
                                         "data": b64}}]),
    ev([{"text": "done."}], "STOP")], "split": 4096}, sys.stdout)
' | upstream_script
	PIXEL=$PWD/big.bin run -0 chatimg stream
	assert_line --index 0 '[["Big:",0],["\n\n[IMG:image/png:true]\n\n",1],["done.",0]]'
	assert_line --index 1 '["Big:\n\n[IMG:image/png:true]\n\ndone.",[["image/png",true]]]'
}

@test "responses: the image as markdown in the output text" {
	need_npm
	run -0 chatimg responses
	assert_output "[\"completed\",\"$AROUND\"]"
	run -0 upstream_request 1 '.body | fromjson | .generationConfig.responseModalities | tojson'
	assert_output '["TEXT","IMAGE"]'
}

@test "messages: the image as markdown in the text block" {
	run -0 post /v1/messages '{"model":"gemini-2.5-flash-image","max_tokens":100,"messages":[{"role":"user","content":"a red dot"}]}' 'x-api-key: tok-user'
	assert_line --index 1 200
	printf '%s\n' "${lines[0]}" > answer.json
	run -0 python3 -c '
import base64, json, re
a = json.load(open("answer.json"))
t = a["content"][0]["text"]
m = re.fullmatch(r"(.*)!\[image\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)(.*)", t, re.S)
print(json.dumps([a["content"][0]["type"], m.group(1), m.group(3),
    base64.b64decode(m.group(2)) == open("'"$PIXEL"'", "rb").read()]))'
	assert_output '["text", "Here is a pixel for: a red dot\n\n", "\n\nThat was the pixel.", true]'
}

@test "native: generateContent and its stream pass the image on untouched" {
	local b64
	b64=$(base64 -w 0 "$PIXEL")
	run -0 post /v1beta/models/gemini-2.5-flash-image:generateContent \
	    '{"contents":[{"role":"user","parts":[{"text":"a red dot"}]}]}' \
	    'x-goog-api-key: tok-user'
	assert_line --index 1 200
	run -0 jq -c '.candidates[0].content.parts | [.[0].text, .[1].inlineData.mimeType, .[1].inlineData.data == $b, .[2].text]' --arg b "$b64" <<<"${lines[0]}"
	assert_output '["Here is a pixel for: a red dot","image/png",true,"That was the pixel."]'
	run -0 post '/v1beta/models/gemini-2.5-flash-image:streamGenerateContent?alt=sse' \
	    '{"contents":[{"role":"user","parts":[{"text":"a red dot"}]}]}' \
	    'x-goog-api-key: tok-user'
	run -0 bash -c "printf '%s\n' \"\$1\" | sed -n 's/^data: //p' | tr -d '\r' |
	    jq -sc --arg b '$b64' '[.[].candidates[0].content.parts[0] |
	    if .inlineData then [.inlineData.mimeType, .inlineData.data == \$b]
	    else .text end]'" _ "$output"
	assert_output '["Here is a pixel for: a red dot",["image/png",true],"That was the pixel."]'
}
