//! The Defender simulator (skeleton; replaced by the sim branch).
