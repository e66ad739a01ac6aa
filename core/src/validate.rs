//! Object validation shared by the API server and `skiff validate`.
