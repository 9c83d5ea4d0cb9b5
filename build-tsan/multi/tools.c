#include "pipeline.h"
int gb_main_gb_call(int, char **);
int gb_builtin_gb_call(int, char **) __attribute__((weak));
int gb_main_gb_convert(int, char **);
int gb_builtin_gb_convert(int, char **) __attribute__((weak));
int gb_main_gb_keys(int, char **);
int gb_builtin_gb_keys(int, char **) __attribute__((weak));
int gb_main_gb_sse(int, char **);
int gb_builtin_gb_sse(int, char **) __attribute__((weak));
const struct gb_tool gb_tools[] = {
	{ "gb-call", gb_main_gb_call, gb_builtin_gb_call },
	{ "gb-convert", gb_main_gb_convert, gb_builtin_gb_convert },
	{ "gb-keys", gb_main_gb_keys, gb_builtin_gb_keys },
	{ "gb-sse", gb_main_gb_sse, gb_builtin_gb_sse },
	{ 0, 0, 0 }
};
