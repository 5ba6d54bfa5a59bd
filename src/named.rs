//! Enums whose variants have stable names (metric labels, stats keys,
//! configuration words), written once: `named_enum!` gives the enum, the
//! list of all its variants in order, and each one's name.

/// `named_enum! { /// docs  pub enum Kind { /// docs  A = "a", B = "b" } }`
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $label:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every variant, in order (a variant's index is `as usize`).
            pub const ALL: &'static [$name] = &[$( $name::$variant ),+];

            /// The variant's stable name.
            pub fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $label ),+
                }
            }
        }
    };
}

pub(crate) use named_enum;
