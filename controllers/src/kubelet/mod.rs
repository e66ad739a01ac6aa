//! kubelet (seed §7): node registration, lease, pod lifecycle through CRI, as a pure reconcile.
