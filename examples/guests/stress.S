# stress: every vCPU loops over PIO and MMIO accesses to echo devices whose answers it can
# check, counting mismatches, and touches the hotplug area where devices come and go.
# SI holds the vCPU index. The loop ends when the control port reads non-zero; the vCPU
# then reports its mismatch count and halts.
#
#   PIO  0x510 + 2*i   a 16-bit echo register per vCPU (i < 8)
#   MMIO 0xd0000 + 0x100*i  a 16-bit echo register per vCPU
#   PIO  0x520         write: this vCPU's mismatch count; 0x522 read: non-zero = stop
#   PIO  0x600, MMIO 0xd8000   the hotplug area (may hit no device)

.code16
.text
.globl _start
_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0xd000, %ax
    mov %ax, %es
    # Stack: 512 bytes per vCPU below 0x9000.
    mov %si, %ax
    shl $9, %ax
    mov $0x9000, %sp
    sub %ax, %sp
    xor %bp, %bp            # mismatches
    mov %si, %cx            # the value written: starts at the index, steps by 0x0101
    mov %si, %di
    shl $8, %di             # the MMIO register: ES:DI = 0xd0000 + 0x100*i

loop:
    # PIO echo.
    mov %si, %dx
    shl $1, %dx
    add $0x510, %dx
    mov %cx, %ax
    out %ax, %dx
    in %dx, %ax
    cmp %cx, %ax
    je 1f
    inc %bp
1:
    # MMIO echo.
    mov %cx, %es:(%di)
    mov %es:(%di), %ax
    cmp %cx, %ax
    je 2f
    inc %bp
2:
    # The hotplug area: answers are not checked.
    mov $0x600, %dx
    in %dx, %al
    mov %es:0x8000, %al

    add $0x0101, %cx
    mov $0x522, %dx
    in %dx, %al
    test %al, %al
    jz loop

    mov $0x520, %dx
    mov %bp, %ax
    out %ax, %dx
halt:
    hlt
    jmp halt
