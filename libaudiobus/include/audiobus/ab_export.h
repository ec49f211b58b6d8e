/* ab_export.h - symbol visibility for libaudiobus (built with -fvisibility=hidden). */
#ifndef AUDIOBUS_AB_EXPORT_H_INCLUDED
#define AUDIOBUS_AB_EXPORT_H_INCLUDED

#if defined(AB_STATIC)
#define AB_EXPORT
#elif defined(__GNUC__)
#define AB_EXPORT __attribute__((visibility("default")))
#else
#define AB_EXPORT
#endif

#endif
