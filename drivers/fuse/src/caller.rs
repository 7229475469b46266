//! The groups and privilege of the process behind a request, which the FUSE protocol does not
//! carry (a request names only its uid, gid and pid) but one POSIX ACL rule needs: setting an
//! access ACL clears the set-group-ID bit unless the caller is in the file's group or holds
//! `CAP_FSETID`. Kernels tell a file system so themselves only through `FUSE_SETXATTR_EXT`,
//! which fuser 0.18 cannot parse; so they are read from `/proc/<pid>/status`, as libfuse's
//! `fuse_req_getgroups` does. Pure parsing apart from that one read.

use fuser::Request;
use secvol_fs::{CallerGroups, Ctx};

/// Bit of `CAP_FSETID` in the capability sets of `/proc/<pid>/status`.
const CAP_FSETID: u32 = 4;

/// The caller of `req`. When its status cannot be read (the process already ended), only its
/// effective ids are known: root counts as privileged, anyone else as in no other group, so
/// the set-group-ID bit is kept only for a member of the file's group by its effective gid.
pub(crate) fn caller_groups(req: &Request) -> CallerGroups {
    let ctx = Ctx {
        uid: req.uid(),
        gid: req.gid(),
    };
    let status = std::fs::read_to_string(format!("/proc/{}/status", req.pid()));
    match status.ok().and_then(|text| parse_status(&text, ctx.gid)) {
        Some(groups) => groups,
        None => CallerGroups {
            privileged: ctx.uid == 0,
            ..CallerGroups::of(ctx)
        },
    }
}

/// The supplementary groups (`Groups:`) and whether `CAP_FSETID` is in the effective set
/// (`CapEff:`) of a `/proc/<pid>/status` text; `gid` is the request's effective group.
fn parse_status(text: &str, gid: u32) -> Option<CallerGroups> {
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    let groups = field("Groups")?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<Vec<u32>, _>>()
        .ok()?;
    let effective = u64::from_str_radix(field("CapEff")?, 16).ok()?;
    Some(CallerGroups {
        gid,
        groups,
        privileged: effective & (1 << CAP_FSETID) != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tsetfacl\nUmask:\t0022\nState:\tR (running)\n\
        Uid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\n\
        Groups:\t20 24 \nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n\
        CapEff:\t0000000000000000\n";

    #[test]
    fn groups_and_capabilities_come_from_the_status_text() {
        let caller = parse_status(STATUS, 65534).unwrap();
        assert_eq!(caller.groups, [20, 24]);
        assert_eq!(caller.gid, 65534);
        assert!(!caller.privileged);
        let root = STATUS.replace("CapEff:\t0000000000000000", "CapEff:\t000001ffffffffff");
        assert!(parse_status(&root, 0).unwrap().privileged);
        // CAP_FSETID alone is enough.
        let fsetid = STATUS.replace("CapEff:\t0000000000000000", "CapEff:\t0000000000000010");
        assert!(parse_status(&fsetid, 0).unwrap().privileged);
        let no_groups = STATUS.replace("Groups:\t20 24 ", "Groups:");
        assert!(parse_status(&no_groups, 1).unwrap().groups.is_empty());
    }

    #[test]
    fn an_unreadable_status_gives_nothing() {
        assert!(parse_status("", 0).is_none());
        assert!(parse_status("Groups:\tx\nCapEff:\t0\n", 0).is_none());
        assert!(parse_status("Groups:\t1\n", 0).is_none());
    }
}
