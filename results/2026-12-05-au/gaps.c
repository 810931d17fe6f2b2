#include <stdio.h>
#include <time.h>
#include <stdint.h>
static uint64_t now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return (uint64_t)t.tv_sec*1000000000ull+t.tv_nsec;}
int main(void){
  uint64_t start=now(), last=start, end=start+2000000000ull; long b5=0,b10=0,b20=0,b40=0; uint64_t sum20=0;
  while(1){uint64_t t=now(); uint64_t g=t-last; last=t; if(t>end)break;
    if(g>5000)b5++; if(g>10000)b10++; if(g>20000){b20++; sum20+=g;} if(g>40000)b40++;}
  printf("gaps over 2 s: >5us %ld >10us %ld >20us %ld (mean %.1f us) >40us %ld\n",b5,b10,b20,b20?sum20/1000.0/b20:0,b40);
}
