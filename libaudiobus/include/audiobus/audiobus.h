/* audiobus.h - umbrella header of libaudiobus: version and every public class. */
#ifndef AUDIOBUS_AUDIOBUS_H_INCLUDED
#define AUDIOBUS_AUDIOBUS_H_INCLUDED

#define AUDIOBUS_VERSION_MAJOR 0
#define AUDIOBUS_VERSION_MINOR 1
#define AUDIOBUS_VERSION_PATCH 0
#define AUDIOBUS_VERSION_STRING "0.1.0"

#include "ab_biquad.h"
#include "ab_block.h"
#include "ab_broker.h"
#include "ab_clock.h"
#include "ab_convert.h"
#include "ab_ctl.h"
#include "ab_endpoint.h"
#include "ab_error.h"
#include "ab_log.h"
#include "ab_mel.h"
#include "ab_meter.h"
#include "ab_node.h"
#include "ab_pub.h"
#include "ab_ring.h"
#include "ab_signal.h"
#include "ab_stft.h"
#include "ab_text.h"

#endif
