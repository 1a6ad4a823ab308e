//! The Defender REST client (skeleton; replaced by the client branch).
