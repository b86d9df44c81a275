# hello: a 16-bit real-mode guest for //examples:minivmm.
# Detects the UART the way Linux's 8250 autoconfig does (scratch register, loopback MSR
# test, FIFO enable and IIR check), prints what it found and a banner through THR, reads
# the date from the CMOS RTC and prints it, then asks the i8042 to reset the machine.
# Loaded at 0x1000 with CS=DS=ES=SS=0.

.code16
.text
.globl _start
_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x8000, %sp

    # Scratch register test.
    mov $0x3ff, %dx
    mov $0xa5, %al
    out %al, %dx
    in %dx, %al
    cmp $0xa5, %al
    jne no_uart
    mov $0x5a, %al
    out %al, %dx
    in %dx, %al
    cmp $0x5a, %al
    jne no_uart

    # Loopback test: MCR = LOOP|OUT2|RTS must read back as MSR DCD|CTS (0x90).
    mov $0x3fc, %dx
    mov $0x1a, %al
    out %al, %dx
    mov $0x3fe, %dx
    in %dx, %al
    and $0xf0, %al
    cmp $0x90, %al
    jne no_uart
    mov $0x3fc, %dx
    mov $0x0b, %al          # DTR|RTS|OUT2, loopback off
    out %al, %dx

    # 8N1, 115200 baud: DLAB, divisor 1.
    mov $0x3fb, %dx
    mov $0x83, %al
    out %al, %dx
    mov $0x3f8, %dx
    mov $0x01, %al
    out %al, %dx
    mov $0x3f9, %dx
    xor %al, %al
    out %al, %dx
    mov $0x3fb, %dx
    mov $0x03, %al
    out %al, %dx

    # FIFO test: with FCR = 1, IIR bits 6-7 both set means a 16550A.
    mov $0x3fa, %dx
    mov $0x01, %al
    out %al, %dx
    in %dx, %al
    shr $6, %al
    cmp $3, %al
    jne not_16550a
    mov $msg_found, %si
    call puts
    mov $msg_16550a, %si
    call puts
    jmp banner
not_16550a:
    mov $msg_found, %si
    call puts
    mov $msg_other, %si
    call puts

banner:
    mov $msg_banner, %si
    call puts

    # The date from the RTC, in BCD: 20YY-MM-DD.
    mov $msg_date, %si
    call puts
    mov $0x32, %al          # century
    call rtc_bcd
    mov $0x09, %al          # year
    call rtc_bcd
    mov $'-', %al
    call putc
    mov $0x08, %al          # month
    call rtc_bcd
    mov $'-', %al
    call putc
    mov $0x07, %al          # day of month
    call rtc_bcd
    mov $msg_newline, %si
    call puts

no_uart:
    # Reset through the i8042: wait for its input buffer to drain, then pulse reset.
1:  in $0x64, %al
    test $0x02, %al
    jnz 1b
    mov $0xfe, %al
    out %al, $0x64
halt:
    hlt
    jmp halt

# putc: the byte in AL, once THR is empty.
putc:
    push %dx
    push %ax
    mov $0x3fd, %dx
1:  in %dx, %al
    test $0x20, %al
    jz 1b
    pop %ax
    mov $0x3f8, %dx
    out %al, %dx
    pop %dx
    ret

# puts: the NUL-terminated string at DS:SI.
puts:
    lodsb
    test %al, %al
    jz 1f
    call putc
    jmp puts
1:  ret

# rtc_bcd: prints the BCD register AL of the RTC as two digits.
rtc_bcd:
    out %al, $0x70
    in $0x71, %al
    mov %al, %ah
    shr $4, %al
    add $'0', %al
    call putc
    mov %ah, %al
    and $0x0f, %al
    add $'0', %al
    call putc
    ret

msg_found:   .asciz "UART: "
msg_16550a:  .asciz "16550A\r\n"
msg_other:   .asciz "not a 16550A\r\n"
msg_banner:  .asciz "Hello from a dbs_device guest!\r\n"
msg_date:    .asciz "RTC date: "
msg_newline: .asciz "\r\n"
