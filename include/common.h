/* common: attributes and small macros shared by every module */
#ifndef ATRIUM_COMMON_H
#define ATRIUM_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MUSTCHECK __attribute__((warn_unused_result))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Canonical text form of a UUID: 36 characters plus the NUL. */
#define UUID_STRLEN 37

#endif
