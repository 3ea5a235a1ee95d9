# SPDX-License-Identifier: Apache-2.0
# A package, so that its modules (conftest, test_files...) never meet the
# same names of the repository suite's when one pytest run collects both.
