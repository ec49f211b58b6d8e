/* plugin_header_layout.h - the fields of ab_plugin.h whose offsets C and C++ must agree on. */
#ifndef AUDIOBUS_TEST_PLUGIN_HEADER_LAYOUT_H_INCLUDED
#define AUDIOBUS_TEST_PLUGIN_HEADER_LAYOUT_H_INCLUDED

#include <stddef.h>

#include <audiobus/ab_plugin.h>

/* S(type) for the size of every ABI struct, then X(type, field) for each of
 * its fields. */
#define AB_TEST_PLUGIN_LAYOUT(X, S)                                                                     \
    S(ab_plugin_param_t)                                                                                \
    X(ab_plugin_param_t, key) X(ab_plugin_param_t, value)                                               \
    S(ab_plugin_param_info_t)                                                                           \
    X(ab_plugin_param_info_t, key) X(ab_plugin_param_info_t, default_value)                             \
    X(ab_plugin_param_info_t, help)                                                                     \
    S(ab_plugin_format_t)                                                                               \
    X(ab_plugin_format_t, struct_size) X(ab_plugin_format_t, rate) X(ab_plugin_format_t, channels)      \
    X(ab_plugin_format_t, max_frames) X(ab_plugin_format_t, raw_format)                                 \
    X(ab_plugin_format_t, stream)                                                                       \
    S(ab_plugin_block_t)                                                                                \
    X(ab_plugin_block_t, struct_size) X(ab_plugin_block_t, frames) X(ab_plugin_block_t, channels)       \
    X(ab_plugin_block_t, rate) X(ab_plugin_block_t, seq) X(ab_plugin_block_t, frame0)                   \
    X(ab_plugin_block_t, time_ns) X(ab_plugin_block_t, samples) X(ab_plugin_block_t, raw)               \
    X(ab_plugin_block_t, raw_format) X(ab_plugin_block_t, raw_bytes)                                    \
    S(ab_plugin_output_block_t)                                                                         \
    X(ab_plugin_output_block_t, struct_size) X(ab_plugin_output_block_t, output)                        \
    X(ab_plugin_output_block_t, frames) X(ab_plugin_output_block_t, channels)                           \
    X(ab_plugin_output_block_t, frame0) X(ab_plugin_output_block_t, time_ns)                            \
    X(ab_plugin_output_block_t, samples) X(ab_plugin_output_block_t, label)                             \
    S(ab_plugin_host_t)                                                                                 \
    X(ab_plugin_host_t, struct_size) X(ab_plugin_host_t, host_data) X(ab_plugin_host_t, log)            \
    X(ab_plugin_host_t, fail) X(ab_plugin_host_t, declare_output) X(ab_plugin_host_t, publish)          \
    S(ab_plugin_descriptor_t)                                                                           \
    X(ab_plugin_descriptor_t, abi_major) X(ab_plugin_descriptor_t, abi_minor)                           \
    X(ab_plugin_descriptor_t, struct_size) X(ab_plugin_descriptor_t, name)                              \
    X(ab_plugin_descriptor_t, version) X(ab_plugin_descriptor_t, description)                           \
    X(ab_plugin_descriptor_t, params) X(ab_plugin_descriptor_t, create)                                 \
    X(ab_plugin_descriptor_t, activate) X(ab_plugin_descriptor_t, process)                              \
    X(ab_plugin_descriptor_t, deactivate) X(ab_plugin_descriptor_t, destroy) X(ab_plugin_descriptor_t, gap)

#define AB_TEST_OFFSET(type, field) offsetof(type, field),
#define AB_TEST_SIZE(type) sizeof(type),
#define AB_TEST_NAME(type, field) #type "." #field,
#define AB_TEST_SIZE_NAME(type) "sizeof " #type,

#endif
