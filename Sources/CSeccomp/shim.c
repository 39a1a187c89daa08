#include "warren_seccomp.h"

int warren_seccomp_rule_add0(scmp_filter_ctx ctx, uint32_t action, int syscall) {
    return seccomp_rule_add(ctx, action, syscall, 0);
}

int warren_seccomp_rule_add1(scmp_filter_ctx ctx, uint32_t action, int syscall,
                             unsigned int arg, int op, uint64_t datum_a, uint64_t datum_b) {
    struct scmp_arg_cmp cmp = { .arg = arg, .op = (enum scmp_compare)op, .datum_a = datum_a, .datum_b = datum_b };
    return seccomp_rule_add_array(ctx, action, syscall, 1, &cmp);
}

uint32_t warren_seccomp_act_errno(uint16_t err) { return SCMP_ACT_ERRNO(err); }
uint32_t warren_seccomp_act_allow(void) { return SCMP_ACT_ALLOW; }
uint32_t warren_seccomp_act_kill_process(void) { return SCMP_ACT_KILL_PROCESS; }
