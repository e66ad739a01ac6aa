//! [`Object`]: one value of any kind skiff serves.

use serde::Serialize;

use super::{KindInfo, ObjectMeta, Resource};

/// Calls `$callback!` with the full list of served kinds as `Variant = Type` pairs, so every
/// match over kinds is generated from one list and no kind can be forgotten in one of them.
macro_rules! with_kinds {
    ($callback:ident) => {
        $callback! {
            Pod = Pod,
            ReplicationController = ReplicationController,
            Service = Service,
            Endpoints = Endpoints,
            Node = Node,
            Namespace = Namespace,
            ConfigMap = ConfigMap,
            Secret = Secret,
            ServiceAccount = ServiceAccount,
            Event = Event,
            PersistentVolume = PersistentVolume,
            PersistentVolumeClaim = PersistentVolumeClaim,
            ReplicaSet = ReplicaSet,
            Deployment = Deployment,
            DaemonSet = DaemonSet,
            Role = Role,
            ClusterRole = ClusterRole,
            RoleBinding = RoleBinding,
            ClusterRoleBinding = ClusterRoleBinding,
            Lease = Lease,
        }
    };
}
pub(crate) use with_kinds;

macro_rules! define_object {
    ($($variant:ident = $ty:ident,)*) => {
        /// One object of any kind skiff serves.
        ///
        /// Serializes as the object itself (with its `apiVersion` and `kind`), and encodes with
        /// bincode as a variant index followed by the object.
        ///
        /// Decoding takes the [`KindRegistry`](super::KindRegistry) as bincode's decode
        /// context, to find custom kinds (`KindRegistry::builtin()` decodes built-ins only).
        #[derive(Debug, Clone, PartialEq, Serialize, bincode::Encode, bincode::Decode)]
        #[bincode(decode_context = "crate::object::KindRegistry")]
        #[serde(untagged)]
        #[allow(clippy::large_enum_variant, reason = "objects are stored and moved whole; boxing buys nothing")]
        pub enum Object {
            $(
                #[doc = concat!("A `", stringify!($ty), "`.")]
                $variant(super::$ty),
            )*
            /// An object of a registered custom kind (last, so built-in encodings keep their
            /// variant index).
            Custom(super::DynamicObject),
        }

        impl Object {
            /// Where and how this object's kind is served.
            pub fn info(&self) -> &'static KindInfo {
                match self {
                    $(Object::$variant(_) => &<super::$ty as super::HasKindInfo>::INFO,)*
                    Object::Custom(o) => o.info(),
                }
            }

            /// The object's metadata.
            pub fn metadata(&self) -> &ObjectMeta {
                match self {
                    $(Object::$variant(o) => o.metadata(),)*
                    Object::Custom(o) => &o.metadata,
                }
            }

            /// The object's metadata, mutably.
            pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
                match self {
                    $(Object::$variant(o) => o.metadata_mut(),)*
                    Object::Custom(o) => &mut o.metadata,
                }
            }
        }

        $(
            impl From<super::$ty> for Object {
                fn from(o: super::$ty) -> Self {
                    Object::$variant(o)
                }
            }

            impl ObjectKind for super::$ty {
                fn into_object(self) -> Result<Object, String> {
                    Ok(Object::$variant(self))
                }

                fn try_from_object(object: Object) -> Result<Self, String> {
                    match object {
                        Object::$variant(o) => Ok(o),
                        #[allow(unreachable_patterns, reason = "one arm per kind")]
                        other => Err(other.info().kind.to_owned()),
                    }
                }
            }

            impl TypedObject for super::$ty {
                fn from_ref(object: &Object) -> Option<&Self> {
                    match object {
                        Object::$variant(o) => Some(o),
                        #[allow(unreachable_patterns, reason = "one arm per kind")]
                        _ => None,
                    }
                }

                fn from_mut(object: &mut Object) -> Option<&mut Self> {
                    match object {
                        Object::$variant(o) => Some(o),
                        #[allow(unreachable_patterns, reason = "one arm per kind")]
                        _ => None,
                    }
                }

                fn from_object(object: Object) -> Result<Self, Object> {
                    match object {
                        Object::$variant(o) => Ok(o),
                        #[allow(unreachable_patterns, reason = "one arm per kind")]
                        other => Err(other),
                    }
                }
            }
        )*
    };
}
with_kinds!(define_object);

/// A served kind, convertible to and from [`Object`] without cloning: what typed caches and
/// controllers use to read objects of one kind out of a mixed collection.
///
/// ```
/// use skiff_core::object::{Object, Pod, Service, TypedObject};
///
/// let object = Object::from(Pod::default());
/// assert!(Pod::from_ref(&object).is_some());
/// assert!(Service::from_ref(&object).is_none());
/// ```
pub trait TypedObject: Resource + Into<Object> {
    /// The object as this kind, if it is one.
    fn from_ref(object: &Object) -> Option<&Self>;
    /// The object as this kind, mutably, if it is one.
    fn from_mut(object: &mut Object) -> Option<&mut Self>;
    /// The object as this kind, or the object back if it is another kind.
    #[allow(
        clippy::result_large_err,
        reason = "the object is moved back whole, as it came"
    )]
    fn from_object(object: Object) -> Result<Self, Object>;
}

/// A kind a typed API can serve: a built-in kind, or a typed custom kind
/// ([`CustomResource`](super::CustomResource), kept as a [`DynamicObject`](super::DynamicObject)
/// and converted through serde).
pub trait ObjectKind: super::HasKindInfo + Sized {
    /// The object as an [`Object`].
    ///
    /// # Errors
    ///
    /// A custom kind that does not serialize as an object (the message says why).
    fn into_object(self) -> Result<Object, String>;

    /// The object as this kind.
    ///
    /// # Errors
    ///
    /// The object is of another kind (the message names it) or, for a custom kind, its fields
    /// do not read as `Self`.
    fn try_from_object(object: Object) -> Result<Self, String>;
}

impl<T: super::CustomResource> ObjectKind for T {
    fn into_object(self) -> Result<Object, String> {
        super::DynamicObject::from_typed(&self).map(Object::Custom)
    }

    fn try_from_object(object: Object) -> Result<Self, String> {
        match object {
            Object::Custom(custom) if custom.info() == &T::INFO => custom.to_typed(),
            other => Err(other.info().kind.to_owned()),
        }
    }
}

/// Kinds with a `status` subresource: status is written only through it, and `generation`
/// counts changes of everything else.
macro_rules! with_status_kinds {
    ($callback:ident, $($args:tt)*) => {
        $callback!($($args)*; Pod, ReplicaSet, ReplicationController, Deployment, DaemonSet,
            Service, Node, Namespace, PersistentVolume, PersistentVolumeClaim)
    };
}

macro_rules! clear_status_arms {
    ($object:expr; $($variant:ident),*) => {
        match $object {
            $(Object::$variant(o) => drop(std::mem::take(&mut o.status)),)*
            Object::Custom(o) => o.clear_status(),
            _ => {}
        }
    };
}

macro_rules! copy_status_arms {
    ($into:expr, $from:expr; $($variant:ident),*) => {
        match ($into, $from) {
            $((Object::$variant(a), Object::$variant(b)) => a.status.clone_from(&b.status),)*
            (Object::Custom(a), Object::Custom(b)) => a.copy_status_from(b),
            _ => {}
        }
    };
}

impl From<super::DynamicObject> for Object {
    fn from(o: super::DynamicObject) -> Self {
        Object::Custom(o)
    }
}

impl Object {
    /// Resets the status of a kind with a status subresource (others are unchanged).
    pub fn clear_status(&mut self) {
        with_status_kinds!(clear_status_arms, self);
    }

    /// Copies `from`'s status into `self` when both are the same kind with a status
    /// subresource.
    pub fn copy_status_from(&mut self, from: &Object) {
        with_status_kinds!(copy_status_arms, self, from);
    }

    /// `kind/name` as kubectl prints it (`replicaset/frontend`).
    pub fn kind_slash_name(&self) -> String {
        format!(
            "{}/{}",
            self.info().singular,
            self.metadata().name_or_empty()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::{KINDS, Pod};

    #[test]
    fn every_served_kind_has_a_variant() {
        macro_rules! count {
            ($($variant:ident = $ty:ident,)*) => { [$(stringify!($ty)),*] };
        }
        let listed = with_kinds!(count);
        let served: Vec<&str> = KINDS.iter().map(|k| k.kind).collect();
        let mut listed_sorted = listed.to_vec();
        listed_sorted.sort_unstable();
        let mut served_sorted = served.clone();
        served_sorted.sort_unstable();
        assert_eq!(listed_sorted, served_sorted);
    }

    #[test]
    fn object_serializes_as_the_bare_kind() {
        let mut pod = Pod::default();
        pod.metadata.name = Some("web".into());
        let json = serde_json::to_string(&Object::from(pod)).unwrap();
        assert!(
            json.starts_with(r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"}"#),
            "{json}"
        );
    }
}
