/* SPDX-License-Identifier: MIT */
/* tls_channel.c - placeholder until the module lands. */
int popgate_tls_channel_placeholder;
