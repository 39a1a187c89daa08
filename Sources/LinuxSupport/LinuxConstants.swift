/// Linux ABI constants that Glibc's Swift module hides behind _GNU_SOURCE.
public let CLONE_NEWNS: Int32 = 0x0002_0000
public let CLONE_NEWCGROUP: Int32 = 0x0200_0000
public let CLONE_NEWUTS: Int32 = 0x0400_0000
public let CLONE_NEWIPC: Int32 = 0x0800_0000
public let CLONE_NEWUSER: Int32 = 0x1000_0000
public let CLONE_NEWPID: Int32 = 0x2000_0000
public let CLONE_NEWNET: Int32 = 0x4000_0000
public let CLONE_NEWTIME: Int32 = 0x80

public let PR_SET_PDEATHSIG: Int32 = 1
public let PR_SET_DUMPABLE: Int32 = 4
public let PR_SET_CHILD_SUBREAPER: Int32 = 36
public let PR_SET_NO_NEW_PRIVS: Int32 = 38
public let PR_GET_NO_NEW_PRIVS: Int32 = 39
