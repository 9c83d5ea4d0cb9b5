/*
 * jobtool.h - included last by a tool that may run as a job of a host
 * (job.h): its stdio streams and getopt state become the job's own.
 * Never included by lib/ code, which does not print or parse options.
 */
#ifndef GB_JOBTOOL_H
#define GB_JOBTOOL_H

#include <stdio.h>
#include <unistd.h>

#include "job.h"

#undef stderr
#define stderr	gb_stderr()
#undef stdout
#define stdout	gb_stdout()
#define getopt	gb_getopt
#define optarg	gb_optarg
#define optind	gb_optind

#endif
