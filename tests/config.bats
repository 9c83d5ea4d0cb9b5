#!/usr/bin/env bats
# Configuration as every tool reads it (lib/config.c): the environment,
# then .env or ENV_FILE; JSON and comma lists; booleans; bounded numbers;
# errors that name the variable. gb-keys list --json shows what was read.

load test_helper

keys() {
	gb-keys list --json | jq -c '[.keys[].key]'
}

@test ".env: JSON list, inline comment after white space, quotes" {
	printf '%s\n' '# a comment line' \
		'API_KEYS=["AIzaSyAAAAAAAAAAAAAAAAAAAAAAAAAAAfGhI", "k2222"]  # two keys' \
		'MAX_FAILURES="5"' > .env
	run -0 keys
	assert_output '["AIzaSy…fGhI","…2"]'
}

@test ".env: comma list with spaces and empty items, export prefix" {
	printf '%s\n' 'export API_KEYS= AIzaSyBBBBBBBBBBBBBBBBBBBBBBBBBBBwxyz , ,k3333333,' > .env
	run -0 keys
	assert_output '["AIzaSy…wxyz","…33"]'
}

@test "single quotes are literal, a # inside quotes is kept" {
	printf '%s\n' "API_KEYS='AIzaSy#CCCCCCCCCCCCCCCCCCCCCCCCCCCC9999'" > .env
	run -0 keys
	assert_output '["AIzaSy…9999"]'
}

@test "the environment wins over .env" {
	printf 'API_KEYS=fileonly-key-aaaaaaaa1111\n' > .env
	API_KEYS=envkey-bbbbbbbbbbbb2222 run -0 keys
	assert_output '["envkey…2222"]'
}

@test "ENV_FILE names another file; a missing named file is an error" {
	printf 'API_KEYS=fromenvfile-aaaaaaaa3333\n' > other.env
	ENV_FILE=other.env run -0 keys
	assert_output '["fromen…3333"]'
	ENV_FILE=nothere.env run -100 --separate-stderr gb-keys list
	assert_output ''
	[[ $stderr == "gb-keys: nothere.env: No such file or directory" ]]
}

@test "a missing default .env is fine when the environment has it all" {
	API_KEYS=k1234567 run -0 keys
	assert_output '["…67"]'
}

@test "a bad .env line is an error with file and line number" {
	printf 'API_KEYS=a\nthis is not an assignment\n' > .env
	run -100 --separate-stderr gb-keys list
	[[ $stderr == "gb-keys: .env:2: expected NAME=VALUE" ]]
	printf 'API_KEYS="unterminated\n' > .env
	run -100 --separate-stderr gb-keys list
	[[ $stderr == "gb-keys: .env:1: API_KEYS: unterminated quote" ]]
}

@test "a NUL byte in .env is refused rather than cutting the file short" {
	printf 'API_KEYS=a\0\nMAX_FAILURES=x\n' > .env
	run -100 --separate-stderr gb-keys list
	[[ $stderr == "gb-keys: .env: contains a NUL byte" ]]
}

@test "bad values name the variable" {
	export API_KEYS=k1234567
	MAX_RETRIES=abc run -100 --separate-stderr gb-call GET models
	[[ $stderr == 'gb-call: MAX_RETRIES: "abc" is invalid (allowed 1 to 100)' ]]
	MAX_FAILURES=0 run -100 --separate-stderr gb-keys list
	[[ $stderr == 'gb-keys: MAX_FAILURES: "0" is too small (allowed 1 to 1000000)' ]]
	SHOW_SEARCH_LINK=maybe run -100 --separate-stderr gb-keys list
	[[ $stderr == 'gb-keys: SHOW_SEARCH_LINK: not a boolean: "maybe" (use true or false)' ]]
	LOG_LEVEL=loud run -100 --separate-stderr gb-keys list
	[[ $stderr == 'gb-keys: LOG_LEVEL: "loud" is not one of error, warn, info, debug' ]]
	BASE_URL=ftp://x run -100 --separate-stderr gb-keys list
	[[ $stderr == 'gb-keys: BASE_URL: "ftp://x" is not an http(s) URL' ]]
	PROXIES='["http://127.0.0.1:3128", "127.0.0.1:3128"]' \
	    run -100 --separate-stderr gb-keys list
	[[ $stderr == 'gb-keys: PROXIES: "127.0.0.1:3128" is not an http://, https://, socks5:// or socks5h:// URL' ]]
	PROXIES=socks4://h:1 run -100 --separate-stderr gb-keys list
	[[ $stderr == 'gb-keys: PROXIES: "socks4://h:1" is not an http://, https://, socks5:// or socks5h:// URL' ]]
	PROXIES=http:// run -100 --separate-stderr gb-keys list
	[[ $stderr == 'gb-keys: PROXIES: "http://" is not an http://, https://, socks5:// or socks5h:// URL' ]]
	PROXIES_USE_CONSISTENCY_HASH_BY_API_KEY=sometimes \
	    run -100 --separate-stderr gb-keys list
	[[ $stderr == 'gb-keys: PROXIES_USE_CONSISTENCY_HASH_BY_API_KEY: not a boolean: "sometimes" (use true or false)' ]]
	PROXIES='HTTPS://p:1,SOCKS5://p:2,socks5h://u:pw@p:3' \
	    run -0 --separate-stderr gb-keys list
	API_KEYS='["a", 1]' run -100 --separate-stderr gb-keys list
	[[ $stderr == 'gb-keys: API_KEYS: item 1 is not a string' ]]
	API_KEYS='[broken' run -100 --separate-stderr gb-keys list
	[[ $stderr == "gb-keys: API_KEYS: not a JSON list of strings: "* ]]
}

@test "booleans accept the original's lax forms in any case" {
	export API_KEYS=k1234567
	for v in 1 on T TRUE y Yes 0 off F false N no; do
		SHOW_THINKING_PROCESS=$v run -0 gb-keys list --json
	done
}

@test "required API_KEYS missing or empty" {
	run -100 --separate-stderr gb-keys list
	[[ $stderr == "gb-keys: API_KEYS is not set (in the environment or .env)" ]]
	API_KEYS='[]' run -100 --separate-stderr gb-keys list
	[[ $stderr == "gb-keys: API_KEYS is empty" ]]
}

@test "IMAGE_MODELS: a list like the others, a bad one names the variable" {
	export API_KEYS=k1234567
	IMAGE_MODELS='[broken' run -100 --separate-stderr gb-keys list
	[[ $stderr == "gb-keys: IMAGE_MODELS: not a JSON list of strings: "* ]]
	IMAGE_MODELS='["a", 2]' run -100 --separate-stderr gb-convert chat-request
	[[ $stderr == 'gb-convert: IMAGE_MODELS: item 1 is not a string' ]]
}
