#ifndef WARREN_SECCOMP_H
#define WARREN_SECCOMP_H
#include <stdint.h>
#include <seccomp.h>

/// libseccomp's rule helpers are variadic macros; these fixed-arity forms are callable from Swift.
int warren_seccomp_rule_add0(scmp_filter_ctx ctx, uint32_t action, int syscall);
int warren_seccomp_rule_add1(scmp_filter_ctx ctx, uint32_t action, int syscall,
                             unsigned int arg, int op, uint64_t datum_a, uint64_t datum_b);
/// Action values that are macros in seccomp.h.
uint32_t warren_seccomp_act_errno(uint16_t err);
uint32_t warren_seccomp_act_allow(void);
uint32_t warren_seccomp_act_kill_process(void);
#endif
