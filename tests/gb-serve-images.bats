#!/usr/bin/env bats
# POST /v1/images/generations (gb-serve(8), IMAGES) through the official
# openai npm client (tests/clients/images.mjs) and raw HTTP: a Gemini
# image model answers through generateContent, Imagen through predict,
# and the images come back byte for byte as b64_json. Also the native
# predict and predictLongRunning routes, and the operations a
# predictLongRunning creates polled with the key that created them.
# The client tests skip only when npm or its registry is missing (never
# under CI).

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
	npm_clients openai@6 || return 1
	cd "$BATS_FILE_TMPDIR" || return 1
	upstream_start
	serve_config
	export MAX_RETRIES=2 KEY_COOLDOWN=60
	start_serve activate
	export SERVE_PORT SERVE_PID SERVE_LOG GB_URL=http://127.0.0.1:$SERVE_PORT
}

teardown_file() {
	stop_serve
	upstream_stop
}

setup() {
	need_tool gb-convert
	upstream_reset
	upstream_env
	serve_config
	gb-keys reset >/dev/null
	rm -rf "$STATE_DIRECTORY/affinity"
	export GB_TOKEN=tok-user PIXEL=$FIXTURES/media/pixel.png
	PNG=$(base64 -w0 "$PIXEL")
}

images() {
	node "$CLIENTS/images.mjs" "$@"
}

# post PATH BODY [curl args]: the body, then the status on a line
post() {
	local p=$1 b=$2
	shift 2
	curl -sS -w '\n%{http_code}' -H 'Authorization: Bearer tok-user' \
	    -H 'Content-Type: application/json' "$@" --data-binary "$b" \
	    "$GB_URL$p"
}

# g METHOD PATH [BODY]: a native request, the body then the status
g() {
	curl -sS -X "$1" -w '\n%{http_code}' -H 'x-goog-api-key: tok-user' \
	    -H 'Content-Type: application/json' ${3:+--data-binary "$3"} \
	    "$GB_URL$2"
}

# gemini_image TEXT: a generateContent answer with TEXT and the PNG
gemini_image() {
	printf '{"candidates":[{"content":{"role":"model","parts":[{"text":"%s"},{"inlineData":{"mimeType":"image/png","data":"%s"}}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":1290,"totalTokenCount":1294,"promptTokensDetails":[{"modality":"TEXT","tokenCount":4}]}}' "$1" "$PNG"
}

@test "openai images.generate: a Gemini image model's image byte for byte, its text as revised_prompt" {
	need_npm
	upstream_script "{\"path\":\":generateContent\",\"body\":$(gemini_image 'A red square.')}"
	run -0 images gemini
	assert_output '[1,[true],["A red square."],"number",{"input_tokens":4,"output_tokens":1290,"total_tokens":1294,"input_tokens_details":{"text_tokens":4,"image_tokens":0}}]'
	run -0 upstream_count
	assert_output 1
	run -0 upstream_request 1 .path
	assert_output /v1beta/models/gemini-2.5-flash-image:generateContent
	run -0 upstream_request 1 .body
	run -0 jq -c . <<<"$output"
	assert_output '{"contents":[{"role":"user","parts":[{"text":"a red square"}]}],"generationConfig":{"responseModalities":["TEXT","IMAGE"],"imageConfig":{"aspectRatio":"3:2"}}}'
}

@test "openai images.generate: Imagen with n 2, one predict with sampleCount 2, two images" {
	need_npm
	run -0 images imagen
	assert_output '[2,[true,true],[null,null],null]'
	run -0 upstream_count
	assert_output 1
	run -0 upstream_request 1 .path
	assert_output /v1beta/models/imagen-4.0-generate-001:predict
	run -0 upstream_request 1 .body
	run -0 jq -c . <<<"$output"
	assert_output '{"instances":[{"prompt":"two cats"}],"parameters":{"sampleCount":2}}'
}

@test "openai images.generate: an OpenAI model name draws with IMAGE_MODEL, the size as the nearest ratio" {
	need_npm
	run -0 images dalle
	assert_output '[1,[true],[null]]'
	run -0 upstream_request 1 .path
	assert_output /v1beta/models/imagen-4.0-generate-001:predict
	run -0 upstream_request 1 .body
	run -0 jq -c .parameters <<<"$output"
	assert_output '{"sampleCount":1,"aspectRatio":"16:9"}'
}

@test "openai images.generate: bad requests are 400s naming the field, and nothing goes upstream" {
	need_npm
	run -0 images refuse
	assert_line --index 0 '[400,"n: expected an integer from 1 to 8","invalid_request_error"]'
	assert_line --index 1 '[400,"response_format: url is not offered (this server keeps no images to link to); use b64_json","invalid_request_error"]'
	assert_line --index 2 '[400,"prompt: missing","invalid_request_error"]'
	assert_line --index 3 '[400,"size: expected WIDTHxHEIGHT (such as 1024x1024), an aspect ratio such as 16:9, or auto","invalid_request_error"]'
	run -0 upstream_count
	assert_output 0
}

@test "openai images.generate: an upstream 400 is the client's 400 with the upstream's message" {
	need_npm
	upstream_script '{"status":400,"message":"Image generation is not available in your country."}'
	run -0 images upstream
	assert_output '[400,"Image generation is not available in your country.","invalid_request_error"]'
}

@test "every key cooling: 429 with Retry-After, in OpenAI's shape" {
	upstream_script '{"status":429,"retry_delay":"37s","repeat":true}'
	run -0 post /v1/images/generations '{"prompt":"x","model":"imagen-4.0-fast-generate-001"}' -D headers
	assert_line --index 1 429
	run -0 jq -r .error.type <<<"${lines[0]}"
	assert_output rate_limit_error
	run -0 grep -i '^retry-after:' headers
	[[ $output =~ ^Retry-After:\ (3[0-7])$'\r'$ ]]
	run -0 upstream_count
	assert_output 2
}

@test "Gemini with n 3: three generateContent calls, one after the other, three images" {
	upstream_script "{\"path\":\":generateContent\",\"repeat\":true,\"body\":$(gemini_image 'Here.')}"
	run -0 post /hf/v1/images/generations '{"prompt":"p","model":"models/gemini-3-pro-image-preview","n":3,"size":"4096x4096","quality":"hd","style":"vivid","background":"opaque","output_format":"png","user":"u"}'
	assert_line --index 1 200
	body=${lines[0]}
	run -0 jq -c '[(.data | length), ([.data[].b64_json] | unique | length), .data[0].revised_prompt, .usage.total_tokens]' <<<"$body"
	assert_output '[3,1,"Here.",3882]'
	run -0 jq -r '.data[0].b64_json' <<<"$body"
	assert_output "$PNG"
	run -0 upstream_requests
	run -0 jq -c '[.[].path] | unique, length' <<<"$output"
	assert_line --index 0 '["/v1beta/models/gemini-3-pro-image-preview:generateContent"]'
	assert_line --index 1 3
	run -0 upstream_request 3 .body
	run -0 jq -c .generationConfig <<<"$output"
	assert_output '{"responseModalities":["TEXT","IMAGE"],"imageConfig":{"aspectRatio":"1:1","imageSize":"4K"}}'
}

@test "Imagen with n 6: predict calls of 4 and 2 samples, six images; jpeg asked for" {
	run -0 post /images/generations '{"prompt":"p","model":"imagen-4.0-generate-001","n":6,"output_format":"jpeg","output_compression":80,"size":"9:16"}'
	assert_line --index 1 200
	run -0 jq -c '[.data | length, (map(.b64_json) | unique | length)]' <<<"${lines[0]}"
	assert_output '[6,1]'
	run -0 upstream_requests
	run -0 jq -c '[.[].body | fromjson | .parameters]' <<<"$output"
	assert_output '[{"sampleCount":4,"aspectRatio":"9:16","outputOptions":{"mimeType":"image/jpeg","compressionQuality":80}},{"sampleCount":2,"aspectRatio":"9:16","outputOptions":{"mimeType":"image/jpeg","compressionQuality":80}}]'
}

@test "an answer without an image is a 502 saying why" {
	upstream_script '[{"path":":generateContent","body":{"candidates":[{"content":{"role":"model","parts":[{"text":"I cannot draw that."}]},"finishReason":"STOP","index":0}]}},
	    {"path":":generateContent","body":{"candidates":[{"finishReason":"IMAGE_SAFETY","index":0}]}},
	    {"path":":predict","body":{}}]'
	run -0 post /v1/images/generations '{"prompt":"p","model":"gemini-2.5-flash-image"}'
	assert_line --index 1 502
	run -0 jq -r .error.message <<<"${lines[0]}"
	assert_output 'the upstream answer has no image (the model said: I cannot draw that.)'
	run -0 post /v1/images/generations '{"prompt":"p","model":"gemini-2.5-flash-image"}'
	assert_line --index 1 502
	run -0 jq -r .error.message <<<"${lines[0]}"
	assert_output 'the upstream answer has no image (finishReason IMAGE_SAFETY)'
	run -0 post /v1/images/generations '{"prompt":"p"}'
	assert_line --index 1 502
	run -0 jq -r .error.message <<<"${lines[0]}"
	assert_output 'the upstream answer has no image (none was returned)'
}

@test "the second of two calls failing is the answer: its status, no partial result" {
	upstream_script "[{\"path\":\":generateContent\",\"body\":$(gemini_image 'one')},{\"path\":\":generateContent\",\"status\":400,\"message\":\"second went wrong\"}]"
	run -0 post /v1/images/generations '{"prompt":"p","model":"gemini-2.5-flash-image","n":2}'
	assert_line --index 1 400
	run -0 jq -r .error.message <<<"${lines[0]}"
	assert_output 'second went wrong'
}

@test "bearer auth as on chat; other methods are 405; bad JSON is a 400" {
	run -0 curl -sS -w '\n%{http_code}' -d '{"prompt":"x"}' "$GB_URL/v1/images/generations"
	assert_line --index 1 401
	run -0 curl -sS -w '\n%{http_code}' -H 'Authorization: Bearer nope' -d '{"prompt":"x"}' "$GB_URL/v1/images/generations"
	assert_line --index 1 401
	run -0 curl -sS -w '\n%{http_code}' -H 'Authorization: Bearer tok-user' "$GB_URL/v1/images/generations"
	assert_line --index 1 405
	run -0 post /v1/images/generations '{"prompt":'
	assert_line --index 1 400
	run -0 post /v1/images/generations '{"prompt":"x","background":"transparent"}'
	assert_line --index 1 400
	run -0 jq -r .error.message <<<"${lines[0]}"
	assert_output 'background: transparent is not offered (Gemini draws opaque images)'
	run -0 post /v1/images/generations '{"prompt":"x","model":"gemini-2.5-flash-image","output_format":"jpeg"}'
	assert_line --index 1 400
	run -0 jq -r .error.message <<<"${lines[0]}"
	assert_output 'output_format: jpeg is not offered by gemini-2.5-flash-image (png)'
	run -0 upstream_count
	assert_output 0
}

@test "openai images.edit: the image inline before the prompt, n 2 as two calls, two images" {
	need_npm
	upstream_script "{\"path\":\":generateContent\",\"repeat\":true,\"body\":$(gemini_image 'Blue now.')}"
	run -0 images edit
	assert_output '[2,[true,true],["Blue now.","Blue now."]]'
	run -0 upstream_requests
	run -0 jq -c '[.[].path] | unique, length' <<<"$output"
	assert_line --index 0 '["/v1beta/models/gemini-2.5-flash-image:generateContent"]'
	assert_line --index 1 2
	run -0 upstream_request 2 .body
	run -0 jq -c '[.contents[0].parts[0].inlineData.mimeType, .contents[0].parts[0].inlineData.data == $png, .contents[0].parts[1].text, .generationConfig]' --arg png "$PNG" <<<"$output"
	assert_output '["image/png",true,"make it blue",{"responseModalities":["TEXT","IMAGE"]}]'
}

@test "openai images.edit: two images as image[], an OpenAI model name, a size" {
	need_npm
	upstream_script "{\"path\":\":generateContent\",\"body\":$(gemini_image '')}"
	run -0 images edit2
	assert_output '[1,[true],[null]]'
	run -0 upstream_request 1 .body
	run -0 jq -c '[(.contents[0].parts | length), ([.contents[0].parts[0,1].inlineData.data] | unique == [$png]), .contents[0].parts[2].text, .generationConfig.imageConfig]' --arg png "$PNG" <<<"$output"
	assert_output '[3,true,"merge them",{"aspectRatio":"2:3"}]'
	run -0 upstream_request 1 .path
	assert_output /v1beta/models/gemini-2.5-flash-image:generateContent
}

@test "images.edit refusals: a mask, a body that is not a form, an Imagen model; nothing goes upstream" {
	if [ -z "${NO_NPM:-}" ]; then
		run -0 images editmask
		assert_output '[400,"mask: not offered (Gemini edits by the prompt alone)"]'
	fi
	run -0 post /v1/images/edits '{"prompt":"x"}'
	assert_line --index 1 400
	run -0 jq -r .error.message <<<"${lines[0]}"
	assert_output 'Content-Type: expected multipart/form-data (an image edit is a form with the image files)'
	run -0 curl -sS -w '\n%{http_code}' -H 'Authorization: Bearer tok-user' \
	    -F "image=@$PIXEL;type=image/png" -F prompt=x -F model=imagen-4.0-generate-001 \
	    "$GB_URL/v1/images/edits"
	assert_line --index 1 400
	run -0 jq -r .error.message <<<"${lines[0]}"
	assert_output 'model: imagen-4.0-generate-001 cannot edit images here; name a Gemini image model such as gemini-2.5-flash-image'
	run -0 curl -sS -w '\n%{http_code}' -H 'Authorization: Bearer tok-user' \
	    -H 'Content-Type: multipart/form-data; boundary=x' --data-binary 'garbage' \
	    "$GB_URL/hf/v1/images/edits"
	assert_line --index 1 400
	run -0 jq -r .error.message <<<"${lines[0]}"
	assert_output 'multipart: the body does not start with its boundary line'
	run -0 upstream_count
	assert_output 0
}

@test "curl -F: an edit from a plain form, the image's type from its bytes" {
	upstream_script "{\"path\":\":generateContent\",\"body\":$(gemini_image 'ok')}"
	run -0 curl -sS -w '\n%{http_code}' -H 'Authorization: Bearer tok-user' \
	    -F "image=@$PIXEL;type=application/octet-stream" -F 'prompt=a hat' \
	    "$GB_URL/images/edits"
	assert_line --index 1 200
	run -0 jq -r '.data[0].b64_json' <<<"${lines[0]}"
	assert_output "$PNG"
	run -0 upstream_request 1 .body
	run -0 jq -c '[.contents[0].parts[0].inlineData.mimeType, .contents[0].parts[1].text]' <<<"$output"
	assert_output '["image/png","a hat"]'
}

@test "native predict passes through: Imagen with sampleCount 2 gives two predictions" {
	run -0 g POST /v1beta/models/imagen-4.0-generate-001:predict '{"instances":[{"prompt":"two cats"}],"parameters":{"sampleCount":2}}'
	assert_line --index 1 200
	run -0 jq -r '.predictions | length, .[0].mimeType, .[1].bytesBase64Encoded' <<<"${lines[0]}"
	assert_line --index 0 2
	assert_line --index 1 image/png
	assert_line --index 2 "$PNG"
	run -0 upstream_request 1 .body
	assert_output '{"instances":[{"prompt":"two cats"}],"parameters":{"sampleCount":2}}'
}

@test "predictLongRunning: its operation polled as models/M/operations/ID and operations/ID goes with the creating key" {
	run -0 g POST /gemini/v1beta/models/veo-3.0-generate-001:predictLongRunning '{"instances":[{"prompt":"a cat"}]}'
	assert_line --index 1 200
	op=$(jq -r .name <<<"${lines[0]}")
	[[ $op == models/veo-3.0-generate-001/operations/* ]]
	owner=$(upstream_request 1 .key)
	for p in "/v1beta/$op" "/v1beta/operations/${op##*/}" "/gemini/v1beta/operations/${op##*/}" "/v1beta/$op"; do
		run -0 g GET "$p"
		assert_line --index 1 200
		[ "$(jq -r .done <<<"${lines[0]}")" = true ]
	done
	run -0 upstream_requests
	run -0 jq -r '.[] | select(.method == "GET") | .key' <<<"$output"
	[ "${#lines[@]}" = 4 ]
	[ "$(sort -u <<<"$output")" = "$owner" ]
}
