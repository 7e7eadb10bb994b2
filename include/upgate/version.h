/* SPDX-License-Identifier: MIT */
/* The version every upgate program prints. */
#ifndef UPGATE_VERSION_H
#define UPGATE_VERSION_H

#ifndef UPGATE_VERSION
#define UPGATE_VERSION "0.1.0"
#endif

#endif
