/* ab_fft.h - making and freeing FFTW plans, the one FFT of libaudiobus
 * (ab_stft in single precision, ab_mel in double). FFTW's planner is not
 * thread-safe, executing a plan is: every plan is made and destroyed here,
 * under one lock, and executed by its owner without one (fftw_execute() on
 * the arrays it was made for allocates nothing). Plans use FFTW_ESTIMATE:
 * quick to make, no timing runs, the same plan on every run. Internal.
 * [control-thread] throughout. */
#ifndef AUDIOBUS_AB_FFT_H_INCLUDED
#define AUDIOBUS_AB_FFT_H_INCLUDED

#include <fftw3.h>

/* Real-to-complex (n / 2 + 1 bins out) and complex-to-real (unscaled: the
 * result is n times the input of the forward transform) plans of size n on
 * the given arrays (from fftw(f)_malloc). NULL on failure. */
fftwf_plan ab_fft_plan_r2c_f(int n, float *in, fftwf_complex *out);
fftwf_plan ab_fft_plan_c2r_f(int n, fftwf_complex *in, float *out);
fftw_plan ab_fft_plan_r2c(int n, double *in, fftw_complex *out);

/* Destroy a plan; NULL-safe. */
void ab_fft_destroy_f(fftwf_plan plan);
void ab_fft_destroy(fftw_plan plan);

#endif
