//! Every client RPC as one [`Operation`]: the unit a role grants and an audit record names.
//!
//! The names are the permission table that operators read and custom roles match
//! (`rollout.*`), so they are written once, here, and the serde form of a variant is its
//! name: a log entry keeps meaning the same RPC even if a variant is renamed. The list only
//! grows, like every replicated enum.
// Runs inside replicated apply: a panic here would fire on every member at the same index.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable
    )
)]

use std::fmt;

use serde::{Deserialize, Serialize};

/// Whether an operation changes state, and who may call it beyond an admin.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Changes nothing and reveals neither credentials nor the audit trail: every
    /// built-in role may call it.
    Read,
    /// Changes state within what an operator runs day to day.
    Write,
    /// Membership, credentials, roles and the audit trail: the admin role only (or a
    /// custom role an admin wrote for it).
    Admin,
}

macro_rules! operations {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $kind:ident; )+) => {
        /// One client RPC, as the permission table names it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum Operation {
            $( $(#[$doc])* #[serde(rename = $name)] $variant, )+
        }

        impl Operation {
            /// Every operation, in the order of the permission table.
            pub const ALL: &'static [Operation] = &[$(Operation::$variant),+];

            /// The operation's name in the permission table (`rollout.start`).
            pub fn name(&self) -> &'static str {
                match self {
                    $(Operation::$variant => $name,)+
                }
            }

            /// The feature level from which a log entry may name this operation: an
            /// older member could not decode the name of one added later.
            pub fn feature_level(&self) -> crate::feature::FeatureLevel {
                match self {
                    Operation::ClusterUpgradeFinalize => crate::feature::FeatureLevel(2),
                    _ => crate::feature::BASE,
                }
            }

            fn kind(&self) -> Kind {
                match self {
                    $(Operation::$variant => Kind::$kind,)+
                }
            }
        }
    };
}

operations! {
    ClusterStatus = "cluster.status", Read;
    ClusterInit = "cluster.init", Admin;
    ClusterMemberAdd = "cluster.member.add", Admin;
    ClusterMemberPromote = "cluster.member.promote", Admin;
    ClusterMemberRemove = "cluster.member.remove", Admin;
    /// A backup holds every secret of the state: admins only.
    ClusterSnapshotSave = "cluster.snapshot.save", Admin;
    /// Raises the cluster's feature level after a rolling upgrade (feature level 2 on).
    ClusterUpgradeFinalize = "cluster.upgrade.finalize", Admin;
    /// Which keys sealed how many stored secrets (counts only, never a value).
    SecretsStatus = "secrets.status", Admin;
    /// Moves sealed values to the current sealing key.
    SecretsReseal = "secrets.reseal", Admin;
    VarPut = "var.put", Write;
    /// A variable stored sealed (`PutSecret`).
    VarPutSecret = "var.put_secret", Write;
    VarGet = "var.get", Read;
    VarDelete = "var.delete", Write;
    VarCas = "var.cas", Write;
    VarList = "var.list", Read;
    BlueprintApply = "blueprint.apply", Write;
    BlueprintList = "blueprint.list", Read;
    BlueprintGet = "blueprint.get", Read;
    SitePut = "site.put", Write;
    SiteList = "site.list", Read;
    SiteGet = "site.get", Read;
    EnvironmentCreate = "environment.create", Write;
    EnvironmentList = "environment.list", Read;
    EnvironmentGet = "environment.get", Read;
    EnvironmentSetDrift = "environment.set_drift", Write;
    /// Desired against what the site holds now, field by field: a read, secrets redacted
    /// like every read's.
    EnvironmentDiff = "environment.diff", Read;
    ExecutionStart = "execution.start", Write;
    ExecutionList = "execution.list", Read;
    ExecutionGet = "execution.get", Read;
    ExecutionResume = "execution.resume", Write;
    ExecutionCancel = "execution.cancel", Write;
    ExecutionRollback = "execution.rollback", Write;
    ExecutionWatch = "execution.watch", Read;
    GroupPut = "group.put", Write;
    GroupGet = "group.get", Read;
    GroupList = "group.list", Read;
    GroupDelete = "group.delete", Write;
    RolloutStart = "rollout.start", Write;
    RolloutGet = "rollout.get", Read;
    RolloutList = "rollout.list", Read;
    RolloutPause = "rollout.pause", Write;
    RolloutResume = "rollout.resume", Write;
    RolloutCancel = "rollout.cancel", Write;
    RolloutApprove = "rollout.approve", Write;
    RolloutRollback = "rollout.rollback", Write;
    RolloutSetParallel = "rollout.set_parallel", Write;
    RolloutSetLimits = "rollout.set_limits", Write;
    AuthTokenCreate = "auth.token.create", Admin;
    /// Changes nothing, but lists credentials: admin only, not a read.
    AuthTokenList = "auth.token.list", Admin;
    AuthTokenRevoke = "auth.token.revoke", Admin;
    AuthWhoami = "auth.whoami", Read;
    AuthRolePut = "auth.role.put", Admin;
    /// Changes nothing, but shows who may do what: admin only, not a read.
    AuthRoleList = "auth.role.list", Admin;
    AuthRoleDelete = "auth.role.delete", Admin;
    /// Changes nothing, but shows who did what from where: admin only, not a read.
    AuditList = "audit.list", Admin;
    /// Holds the secret that authenticates a CI system: admin only.
    ReceiverPut = "receiver.put", Admin;
    /// The secret is never returned.
    ReceiverGet = "receiver.get", Read;
    ReceiverList = "receiver.list", Read;
    ReceiverDelete = "receiver.delete", Admin;
    ReceiverDeliveries = "receiver.deliveries", Read;
    SourcePut = "source.put", Write;
    SourceGet = "source.get", Read;
    SourceList = "source.list", Read;
    SourceDelete = "source.delete", Write;
    SourceSync = "source.sync", Write;
    TriggerPut = "trigger.put", Write;
    TriggerGet = "trigger.get", Read;
    TriggerList = "trigger.list", Read;
    TriggerDelete = "trigger.delete", Write;
}

impl Operation {
    /// The operation with this name, or `None` for a name this build does not know.
    pub fn from_name(name: &str) -> Option<Operation> {
        Operation::ALL.iter().copied().find(|op| op.name() == name)
    }

    /// True for the operations a viewer may call: they change nothing and reveal no
    /// credential, role or audit record (`auth.token.list`, `auth.role.list` and
    /// `audit.list` change nothing either, but are admin-only, so they are not reads here).
    pub fn is_read(&self) -> bool {
        self.kind() == Kind::Read
    }

    /// True for membership, credentials, roles and the audit trail: no built-in role but
    /// admin grants them.
    pub fn is_admin_only(&self) -> bool {
        self.kind() == Kind::Admin
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
#[path = "tests/operation_unit.rs"]
mod tests;
