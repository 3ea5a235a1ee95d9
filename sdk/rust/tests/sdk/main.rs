// SPDX-License-Identifier: Apache-2.0
//! The SDK's tests, one binary so that they share what costs: they boot
//! real sandboxes (QEMU, under KVM or TCG) through the libmsb that
//! pkg-config names, in a private $MSB_HOME, with one shared sandbox of the
//! built-in image for commands and files, and one local registry serving
//! stand-ins for the seeds' images.

mod common;

mod abi;
mod asyncio;
mod events;
mod exec;
mod files;
mod hooks;
mod images;
mod lifecycle;
mod plugins;
mod project;
mod seeds;
mod spawn;
mod vectors;
