package kernel_test

import (
	"fmt"

	"tcptour/tracer/kernel"
)

func ExampleState_String() {
	fmt.Println(kernel.FinWait2, kernel.TimeWait, kernel.CloseWait)
	// Output: FIN_WAIT_2 TIME_WAIT CLOSE_WAIT
}
