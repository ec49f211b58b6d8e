/* test_plugin_header.c - ab_plugin.h compiled as strict C11 and as C++ (test_plugin_header_cpp.cpp):
 * both must build alone, and agree on every offset and size of the ABI. */
#include "plugin_header_layout.h"

#include <audiobus/ab_plugin.h>

#include <stdio.h>
#include <string.h>

static const size_t s_layout[] = {AB_TEST_PLUGIN_LAYOUT(AB_TEST_OFFSET, AB_TEST_SIZE)};
static const char *const s_names[] = {AB_TEST_PLUGIN_LAYOUT(AB_TEST_NAME, AB_TEST_SIZE_NAME)};

size_t ab_test_layout_cpp(const size_t **layout);
extern const ab_plugin_descriptor_t ab_test_cpp_descriptor;

/* The header's promises that do not depend on the language. */
_Static_assert(offsetof(ab_plugin_descriptor_t, abi_major) == 0, "abi_major comes first");
_Static_assert(offsetof(ab_plugin_descriptor_t, abi_minor) == 4, "abi_minor second");
_Static_assert(offsetof(ab_plugin_descriptor_t, struct_size) == 8, "struct_size third");
_Static_assert(offsetof(ab_plugin_format_t, struct_size) == 0, "format starts with struct_size");
_Static_assert(offsetof(ab_plugin_block_t, struct_size) == 0, "block starts with struct_size");
_Static_assert(offsetof(ab_plugin_output_block_t, struct_size) == 0, "output block starts with struct_size");
_Static_assert(offsetof(ab_plugin_host_t, struct_size) == 0, "host starts with struct_size");

int main(void)
{
    const size_t *cpp = NULL;
    size_t n = ab_test_layout_cpp(&cpp), n_c = sizeof s_layout / sizeof s_layout[0];
    int failures = 0;
    if (n != n_c) {
        fprintf(stderr, "test_plugin_header: C++ lists %zu offsets, C %zu\n", n, n_c);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (cpp[i] != s_layout[i]) {
            fprintf(stderr, "test_plugin_header: %s is %zu in C, %zu in C++\n", s_names[i], s_layout[i],
                    cpp[i]);
            failures++;
        }
    }
    if (ab_test_cpp_descriptor.abi_major != AB_PLUGIN_ABI_MAJOR ||
        ab_test_cpp_descriptor.struct_size != sizeof(ab_plugin_descriptor_t) ||
        strcmp(ab_test_cpp_descriptor.name, "cpp") != 0 || !ab_test_cpp_descriptor.create) {
        fprintf(stderr, "test_plugin_header: the descriptor defined in C++ reads wrong from C\n");
        failures++;
    }
    if (failures)
        return 1;
    printf("test_plugin_header: %zu offsets and sizes agree between C11 and C++\n", n);
    return 0;
}
