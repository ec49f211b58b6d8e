// test_plugin_header_cpp.cpp - ab_plugin.h compiled as C++: it must build, and lay its structs out as C does.
#include "plugin_header_layout.h"

#include <audiobus/ab_plugin.h>

static const size_t s_layout[] = {AB_TEST_PLUGIN_LAYOUT(AB_TEST_OFFSET, AB_TEST_SIZE)};

// A descriptor defined the way a C++ plugin defines audiobus_plugin. The
// header does not declare that symbol, so the definition needs extern "C":
// for C linkage, and because a const object at namespace scope would
// otherwise have internal linkage and never be exported.
static void *s_create(const ab_plugin_host_t *, const ab_plugin_param_t *, uint32_t, char *, uint32_t)
{
    return nullptr;
}

extern "C" AB_PLUGIN_EXPORT const ab_plugin_descriptor_t ab_test_cpp_descriptor = {
    AB_PLUGIN_ABI_MAJOR,
    AB_PLUGIN_ABI_MINOR,
    sizeof(ab_plugin_descriptor_t),
    "cpp",
    "0",
    "C++ build of the ABI",
    nullptr,
    s_create,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr};

extern "C" size_t ab_test_layout_cpp(const size_t **layout);

size_t ab_test_layout_cpp(const size_t **layout)
{
    *layout = s_layout;
    return sizeof s_layout / sizeof s_layout[0];
}
