// SPDX-License-Identifier: Apache-2.0
//! Guest files through the blocking API.
