//! The operations of the AWS-protocol APIs (ECR, IAM) as enums, and the seam every one of them
//! passes through to be decided.
//!
//! The request names its operation once (`X-Amz-Target`, `Action=`); it is parsed into a
//! variant before any handler runs, and the variant carries its IAM action. A handler cannot
//! name an action of its own: it asks its context to authorize *its* operation, and the
//! dispatcher refuses to send a success that no decision stood behind ([`Decided`]), so a new
//! operation wired without an authorization check fails closed on its first request, and the
//! unit tests of each protocol walk every variant.

use std::sync::atomic::{AtomicBool, Ordering};

/// Declares one protocol's operation enum: each variant is an operation named exactly as the
/// API names it, and authorized by the action `<service>:<Name>`.
macro_rules! operations {
    ($(#[$meta:meta])* $vis:vis enum $name:ident: $service:literal { $($variant:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name { $($variant),* }

        impl $name {
            /// Every operation, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The operation's name on the wire.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant)),* }
            }

            /// The IAM action that authorizes it.
            pub fn action(self) -> &'static str {
                match self { $($name::$variant => concat!($service, ":", stringify!($variant))),* }
            }

            /// The operation a request names, if this server serves it.
            pub fn parse(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|o| o.name() == name)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}
pub(crate) use operations;

/// Whether a request's operation was put before the policy engine. Set by the one function of
/// each protocol that asks for a decision; read by its dispatcher before it answers.
#[derive(Debug, Default)]
pub struct Decided(AtomicBool);

impl Decided {
    pub fn mark(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    operations! {
        enum Sample: "svc" { FirstOp, SecondOp }
    }

    #[test]
    fn names_actions_and_parsing_agree() {
        assert_eq!(Sample::ALL.len(), 2);
        for op in Sample::ALL {
            assert_eq!(Sample::parse(op.name()), Some(*op));
            assert_eq!(op.action(), format!("svc:{}", op.name()));
        }
        assert_eq!(Sample::parse("firstop"), None, "names are case-sensitive");
        assert_eq!(Sample::parse(""), None);
    }

    #[test]
    fn decided_starts_unset() {
        let d = super::Decided::default();
        assert!(!d.get());
        d.mark();
        assert!(d.get());
    }
}
